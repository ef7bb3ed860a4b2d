"""The paper's published numbers (SFF-WAdeeplab), for showing beside our own runs.

Every value is copied from the paper and its working notes; nothing
here is measured by segkit. Tables returned by these functions carry a ``Source`` column
set to "paper" so they are never mistaken for our results. The paper's FPS was measured on
an unknown GPU at 512x512; our FPS comes from whatever device the report ran on, so FPS
values are comparable only *within* a table, never across the two.
"""
from __future__ import annotations

import pandas as pd

__all__ = [
    "PAPER_SOURCE",
    "paper_backbone_table",
    "paper_sff_table",
    "paper_sff_raw",
    "PAPER_BACKBONE_ROWS",
    "beside_paper",
]

PAPER_SOURCE = "paper"

# Table 1 (final version, with the GGCA backbone). Row order as published.
PAPER_BACKBONE_ROWS: list[tuple[str, float, float, float, float]] = [
    ("Xception", 65.55, 76.78, 45.51, 54.71),
    ("VGG16", 66.84, 77.89, 46.98, 20.15),
    ("MobileNetV2", 65.67, 77.27, 90.48, 5.81),
    ("Improved MobileNetV2", 67.82, 78.86, 66.87, 5.84),
    ("MobileNetV4", 64.23, 75.73, 73.26, 31.79),
    ("Swin Transformerv2", 58.30, 70.95, 43.43, 58.21),
    ("MobileViT", 64.14, 75.34, 75.61, 5.04),
]


def paper_backbone_table(version: str = "final") -> pd.DataFrame:
    """The paper's Table 1: DeepLabV3+ with different backbones (reference numbers).

    Args:
        version: "final" (with Improved MobileNetV2) or "first" (without it; header "FPS").
    """
    if version not in ("final", "first"):
        raise ValueError(f"version={version!r}; use 'final' or 'first'.")
    rows = [r for r in PAPER_BACKBONE_ROWS if version == "final" or r[0] != "Improved MobileNetV2"]
    df = pd.DataFrame(rows, columns=["Model", "mIoU(%)", "F1 Score(%)", "FPS(f/s)", "Parameter(M)"])
    df.insert(0, "Source", PAPER_SOURCE)
    return df


def paper_sff_table() -> pd.DataFrame:
    """The paper's Table 2: shallow-feature-fusion channel groups (as published).

    "F1/F2 channels" are the channel counts of the two tapped features, not F1 scores.
    """
    df = pd.DataFrame(
        [(1, 24, 32, 32, 66.9, 78.15, 83.32),
         (2, 24, 32, 56, 68.03, 78.98, 80.54),
         (3, 32, 64, 96, 65.21, 76.88, 102.73),
         (4, 16, 24, 40, 68.29, 79.26, 41.07)],
        columns=["Groups", "F1 channels", "F2 channels", "Out channels", "mIoU(%)", "F1 Score(%)", "FPS(f/s)"],
    )
    df.insert(0, "Source", PAPER_SOURCE)
    return df


def paper_sff_raw() -> pd.DataFrame:
    """Per-class IoU / Recall / Precision (%) of the four SFF groups (raw evaluation output)."""
    rows = []
    raw = {
        1: ((99.43, 99.62, 99.81), (56.69, 82.52, 64.43), (44.57, 67.73, 56.58)),
        2: ((99.46, 99.65, 99.81), (60.1, 82.69, 68.75), (44.54, 67.75, 56.52)),
        3: ((99.33, 99.51, 99.83), (56.8, 82.36, 64.67), (39.49, 72.6, 46.41)),
        4: ((99.48, 99.67, 99.81), (59.67, 83.68, 67.52), (45.74, 65.53, 60.23)),
    }
    for group, per_class in raw.items():
        for name, (iou, rec, prec) in zip(("background", "corrosion", "broken_wire"), per_class):
            rows.append((PAPER_SOURCE, group, name, iou, rec, prec))
    return pd.DataFrame(rows, columns=["Source", "Groups", "Class", "IoU(%)", "Recall(%)", "Precision(%)"])


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame, name_col: str = "Model",
                 columns: tuple[str, ...] = ("mIoU(%)", "F1 Score(%)", "FPS(f/s)", "Parameter(M)"),
                 how: str = "outer") -> pd.DataFrame:
    """Our table and the paper's side by side: ``<col> (ours)`` next to ``<col> (paper)``.

    Rows are matched on ``name_col``; a row found in only one source has dashes for the
    other. The paper's rows keep their published order, our extra rows follow.

    Raises:
        ValueError: a column missing from either table, or an unknown ``how``.
    """
    if how not in ("outer", "inner", "left"):
        raise ValueError(f"how={how!r}; use 'outer', 'inner' or 'left'.")
    for df, nm in ((ours, "ours"), (paper, "paper")):
        missing = [c for c in (name_col, *columns) if c not in df.columns]
        if missing:
            raise ValueError(f"{nm} table lacks columns {missing}; it has {list(df.columns)}.")
    o = ours[[name_col, *columns]].rename(columns={c: f"{c} (ours)" for c in columns})
    p = paper[[name_col, *columns]].rename(columns={c: f"{c} (paper)" for c in columns})
    merged = p.merge(o, on=name_col, how={"left": "right"}.get(how, how), sort=False)
    # rows: the paper's published order, then our extra rows in our order (an outer merge sorts keys)
    rank = {n: i for i, n in enumerate(list(paper[name_col]) + [n for n in ours[name_col] if n not in set(paper[name_col])])}
    merged = merged.assign(_r=merged[name_col].map(rank)).sort_values("_r", kind="stable").drop(columns="_r")
    order = [name_col] + [f"{c} ({s})" for c in columns for s in ("ours", "paper")]
    return merged[order].reset_index(drop=True)
