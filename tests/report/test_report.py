"""segkit.report: tables, text paragraphs, figure style, run collection, runner and export."""
from __future__ import annotations

from dataclasses import replace

import ast
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segkit.report import paper, tables, text
from segkit.report.runs import collect_runs, is_complete, per_class_frame, results_table

# ----------------------------------------------------------------------------- tables


def _table1() -> pd.DataFrame:
    return paper.paper_backbone_table().drop(columns="Source")


def test_best_mask_follows_column_direction():
    df = _table1()
    mask = tables.best_mask(df)
    # highest mIoU / F1 / FPS, lowest parameter count (MobileViT 5.04 M)
    assert df.loc[mask["mIoU(%)"], "Model"].tolist() == ["Improved MobileNetV2"]
    assert df.loc[mask["F1 Score(%)"], "Model"].tolist() == ["Improved MobileNetV2"]
    assert df.loc[mask["FPS(f/s)"], "Model"].tolist() == ["MobileNetV2"]
    assert df.loc[mask["Parameter(M)"], "Model"].tolist() == ["MobileViT"]
    assert not mask["Model"].any()


def test_best_mask_marks_only_a_unique_best_and_accepts_overrides():
    df = pd.DataFrame({"name": ["a", "b", "c"], "score": [1.0, 3.0, 3.0], "cost": [5, 1, 9]})
    assert tables.best_mask(df)["score"].sum() == 0  # no rule for "score": nothing marked
    m = tables.best_mask(df, best={"score": "max", "cost": "max"})
    assert m["score"].tolist() == [False, False, False]  # a tie has no winner
    assert m["cost"].tolist() == [False, False, True]
    with pytest.raises(ValueError, match="not in the table"):
        tables.best_mask(df, best={"nope": "max"})
    with pytest.raises(ValueError, match="'max' or 'min'"):
        tables.best_mask(df, best={"score": "biggest"})


def test_markdown_bold_best_and_integer_columns_stay_integer():
    md = tables.to_markdown(paper.paper_sff_table().drop(columns="Source"))
    lines = md.strip().splitlines()
    assert lines[0] == "| Groups | F1 channels | F2 channels | Out channels | mIoU(%) | F1 Score(%) | FPS(f/s) |"
    assert lines[1].startswith("|---:|")
    # group 4 has the best mIoU and F1, group 3 the best FPS; channel counts are not bolded
    assert lines[5] == "| 4 | 16 | 24 | 40 | **68.29** | **79.26** | 41.07 |"
    assert lines[4] == "| 3 | 32 | 64 | 96 | 65.21 | 76.88 | **102.73** |"


def test_latex_booktabs_escapes_and_bolds():
    tex = tables.to_latex(_table1(), caption="Backbones & 100% of it", label="tab:bb")
    assert tex.startswith("\\begin{table}[t]") and tex.rstrip().endswith("\\end{table}")
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert tex.count(rule) == 1
    assert "mIoU(\\%)" in tex and "Backbones \\& 100\\% of it" in tex
    assert "\\textbf{67.82}" in tex and "\\textbf{90.48}" in tex and "\\textbf{5.04}" in tex
    assert "\\begin{tabular}{lrrrr}" in tex
    assert "\\_" in tables.to_latex(pd.DataFrame({"a_b": ["x_y"]}))


def test_save_table_writes_three_formats(tmp_path):
    df = _table1()
    paths = tables.save_table(df, "t1", tmp_path, caption="Table 1")
    assert set(paths) == {"md", "tex", "csv"}
    back = pd.read_csv(paths["csv"])
    pd.testing.assert_frame_equal(back, df)
    assert "**Table 1**" in paths["md"].read_text()
    with pytest.raises(ValueError, match="empty"):
        tables.save_table(df.iloc[0:0], "empty", tmp_path)
    with pytest.raises(ValueError, match="bare file stem"):
        tables.save_table(df, "sub/t1", tmp_path)


def test_format_cell_handles_nan_and_numpy():
    assert tables.format_cell(float("nan")) == "–"
    assert tables.format_cell(np.int64(24)) == "24"
    assert tables.format_cell(np.float32(1.23456), 3) == "1.235"


# ----------------------------------------------------------------------------- text


def _diff(name, delta, seeds, images, n_seeds=3):
    from segkit.report.stats import Difference, Interval

    return Difference(name, "base", "miou", delta, Interval(*seeds) if seeds else None,
                      Interval(*images) if images else None, n_seeds, 48)


def _ablation_table(names, values):
    return pd.DataFrame({"Model": names, "mIoU(%)": values, "mIoU(%) std": [0.5] * len(names),
                         "n": [3] * len(names)})


def test_paragraph_claims_only_supported_gains_and_losses():
    df = _ablation_table(["base", "x", "y", "z"], [60.0, 61.5, 59.0, 62.0])
    diffs = [_diff("x", 1.5, (0.4, 2.6), (0.9, 2.1)), _diff("y", -1.0, (-1.8, -0.2), (-1.5, -0.5)),
             _diff("z", 2.0, (-1.0, 5.0), (0.5, 3.5))]
    en = text.ablation_paragraph(df, diffs, "base")
    assert "The baseline, base, reaches 60.00 ± 0.50 % mIoU (n = 3 seeds)." in en
    assert "1 of 3 variants improves on it, with 95 % intervals that exclude zero: x (+1.50" in en
    assert "Lower than the baseline beyond noise: y (-1.00" in en
    assert "Within noise (an interval includes zero, or too few seeds): z (+2.00, 95% CI seeds [-1.00, +5.00]" in en
    assert "the largest such gain is that of x." in en
    zh = text.ablation_paragraph(df, diffs, "base", lang="zh")
    assert "低于基线且区间不含零" in zh and "变体" in zh


def test_user_names_are_text_in_markdown_tables_and_paragraphs(tmp_path):
    """Class and run names are shown as written, never as HTML or Markdown (the LaTeX tables
    escape them the same way)."""
    import mistune

    hostile = '<img src=x onerror="alert(1)">'
    df = pd.DataFrame({"Model": [hostile, "a_b *c* [l](u)"], "mIoU(%)": [50.0, 60.0]})
    md = tables.save_table(df, "t", tmp_path, caption=f"runs of {hostile}", formats=("md",))["md"].read_text()
    para = text.comparison_paragraph(df, fps_col=None, params_col=None)
    classes = pd.DataFrame({"name": ["background", hostile], "pixel_share": [0.9, 0.1], "images": [4, 2]})
    for source in (md, para, text.dataset_paragraph(classes, 4)):
        html = mistune.create_markdown(escape=False, plugins=["table"])(source)  # raw HTML kept, as nbconvert does
        assert "<img" not in html and "&lt;img src=x onerror=" in html, html
    html = mistune.create_markdown(escape=False, plugins=["table"])(md)
    assert "a_b *c* [l](u)" in html and "<em>" not in html and "<a " not in html


def test_paragraph_with_one_seed_or_no_intervals_claims_nothing():
    df = _ablation_table(["base", "x"], [60.0, 65.0])
    one = text.ablation_paragraph(df, [_diff("x", 5.0, None, (1.0, 9.0), n_seeds=1)], "base")
    assert "single seed" in one and "intervals that exclude zero" not in one and "No variant is shown to improve" in one
    none = text.comparison_paragraph(df.assign(**{"FPS(f/s)": [3.0, 4.0], "Parameter(M)": [1.0, 2.0]}), None, "base")
    assert "no gain or loss is claimed" in none and "The fastest is x at 4.00 FPS" in none
    with pytest.raises(ValueError, match="baseline='zzz'"):
        text.ablation_paragraph(df, [], "zzz")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10),
                          st.floats(-10, 10), st.integers(1, 5)), min_size=1, max_size=6))
def test_paragraph_never_claims_a_gain_whose_interval_contains_zero(rows):
    diffs, names = [], ["base"]
    for i, (delta, a, b, c, d, n) in enumerate(rows):
        diffs.append(_diff(f"V{i}", delta, tuple(sorted((a, b))), tuple(sorted((c, d))), n_seeds=n))
        names.append(f"V{i}")
    df = _ablation_table(names, [50.0] * len(names))
    for lang, claim in (("en", "on it, with 95 % intervals that exclude zero"), ("zh", "优于基线，且")):
        para = text.ablation_paragraph(df, diffs, "base", lang=lang)
        sentences = [s for s in para.replace("。", "|").replace(". ", "|").split("|") if claim in s]
        claimed = {d.name for d in diffs if any(f"{d.name} (" in s or f"{d.name}（" in s for s in sentences)}
        for d in diffs:
            if d.name in claimed:
                assert d.n_seeds >= 2 and d.delta > 0 and d.seeds.lo > 0 and d.images.lo > 0, (d, para)


def test_training_paragraph_reports_peak_and_best_checkpoint():
    h = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_loss": [1.0, 0.6, 0.5, 0.45],
                      "miou": [np.nan, 0.40, 0.55, 0.50]})
    en = text.training_paragraph(h)
    assert "from 1.000 to 0.450 (a decrease)" in en
    assert "peaked at 55.00% at epoch 3" in en and "best checkpoint" in en
    # an OHEM loss averages the pixels still wrong: a rise is no verdict on the run
    rising = h.assign(train_loss=[1.6, 1.7, 1.8, 1.8])
    assert "train longer" in text.training_paragraph(rising)
    for lang in ("en", "zh"):
        ohem = text.training_paragraph(rising, lang=lang, hard_pixels=True)
        assert "OHEM" in ohem and "train longer" not in ohem and "需要更长的训练" not in ohem


def test_save_paragraphs(tmp_path):
    p = text.save_paragraphs("x", {"en": "Hello.", "zh": "你好。"}, tmp_path)
    body = p.read_text(encoding="utf-8")
    assert "### English" in body and "### 中文" in body and "你好。" in body


# ----------------------------------------------------------------------------- style


def test_save_figure_png_300dpi_pdf_and_params(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from segkit.report.style import save_figure, use_style

    use_style("en")
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, 1])
    paths = save_figure(fig, "line", tmp_path, params={"a": 1}, close=True)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".json"]
    with Image.open(paths[0]) as im:
        assert round(im.info["dpi"][0]) == 300
        assert im.size[0] > 300  # 2 in at 300 dpi, cropped tight
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert json.loads(paths[2].read_text()) == {"a": 1}
    with pytest.raises(ValueError, match="bare file stem"):
        save_figure(fig, "line.png", tmp_path)
    with pytest.raises(ValueError, match="formats"):
        save_figure(fig, "line", tmp_path, formats=("jpg",))


def test_chinese_labels_use_a_cjk_font_or_explain(monkeypatch):
    import matplotlib

    from segkit.report import style

    if style.find_cjk_font() is not None:
        style.use_style("zh")
        assert style.label("miou") == "平均交并比 mIoU (%)"
        assert matplotlib.rcParams["font.sans-serif"][0] == style.find_cjk_font()
    monkeypatch.setattr(style, "find_cjk_font", lambda *a, **k: None)
    with pytest.raises(style.CJKFontNotFoundError, match="fonts-noto-cjk"):
        style.use_style("zh")
    style.use_style("en")
    assert style.label("miou") == "mIoU (%)"
    with pytest.raises(ValueError, match="lang='fr'"):
        style.use_style("fr")


# ----------------------------------------------------------------------------- runs


def _fake_run(root: Path, exp: str, name: str, miou: float, fps: float, params: int, seed: int | None = None) -> Path:
    d = root / exp / name / (f"seed{seed}" if seed is not None else "")
    (d / "checkpoints").mkdir(parents=True)
    (d / "config.yaml").write_text(f"train: {{seed: {seed or 0}}}\nmodel: {{name: x}}\n")
    (d / "fingerprint.json").write_text("{}")
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "miou": [0.1, miou]}).to_csv(d / "history.csv", index=False)
    metrics = {"miou": miou, "f1": miou + 0.1, "mpa": 0.7, "accuracy": 0.99, "mean_f1": 0.5,
               "per_class": {"background": {"iou": 0.98, "recall": 0.99, "precision": 0.97, "f1": 0.98},
                             "corrosion": {"iou": 0.25, "recall": 0.5, "precision": 0.3, "f1": 0.4}}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "bench.json").write_text(json.dumps({"params_trainable": params, "gflops": 1.5,
                                              "latency": {"fps": fps, "median_ms": 1000 / fps}}))
    return d


def test_collect_runs_and_results_table(tmp_path):
    _fake_run(tmp_path, "bb", "m1", 0.60, 90.0, 5_813_523, seed=0)
    _fake_run(tmp_path, "bb", "m1", 0.62, 90.0, 5_813_523, seed=1)
    _fake_run(tmp_path, "bb", "m2", 0.65, 60.0, 5_842_770)
    (tmp_path / "bb" / "incomplete").mkdir()
    (tmp_path / "bb" / "m1" / ".superseded" / "seed0-old").mkdir(parents=True)
    runs = collect_runs(tmp_path)
    assert runs["name"].tolist() == ["m1", "m1", "m2"]  # incomplete and superseded runs are skipped
    assert runs["seed"].tolist() == [0, 1, 0]
    assert runs["miou"].tolist() == pytest.approx([60.0, 62.0, 65.0])
    assert runs["params_m"].tolist() == pytest.approx([5.813523, 5.813523, 5.84277])
    t = results_table(runs, labels={"m1": "MobileNetV2"}, order=["m2", "m1"])
    assert list(t.columns) == ["Model", "mIoU(%)", "mIoU(%) std", "F1 Score(%)", "F1 Score(%) std", "FPS(f/s)",
                               "Parameter(M)", "IoU corrosion(%)", "IoU corrosion(%) std", "Not learned", "n"]
    assert t["Model"].tolist() == ["m2", "MobileNetV2"] and t["n"].tolist() == [1, 2]
    assert t["F1 Score(%)"].tolist() == pytest.approx([75.0, 71.0])
    assert t["mIoU(%) std"].iloc[1] == pytest.approx(np.std([60.0, 62.0], ddof=1)) and np.isnan(t["mIoU(%) std"].iloc[0])
    assert "| MobileNetV2 | 61.00 ± 1.41 | 71.00 ± 1.41 | **90.00** | **5.81** | 25.00 ± 0.00 | – | 2 |" \
        in tables.to_markdown(t)
    assert is_complete(tmp_path / "bb" / "m1" / "seed0") and not is_complete(tmp_path / "bb" / "incomplete")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect_runs(tmp_path / "nope")


def test_per_class_frame_in_percent(tmp_path):
    d = _fake_run(tmp_path, "e", "r", 0.5, 10.0, 1)
    pc = per_class_frame(json.loads((d / "metrics.json").read_text()))
    assert pc["class"].tolist() == ["background", "corrosion"]
    assert pc.loc[1, "IoU"] == pytest.approx(25.0) and pc.loc[1, "Recall(PA)"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="per_class"):
        per_class_frame({"miou": 0.5})


def test_beside_paper_aligns_rows():
    ours = pd.DataFrame({"Model": ["MobileNetV2", "ResNet18"], "mIoU(%)": [50.0, 45.0], "F1 Score(%)": [60.0, 55.0],
                         "FPS(f/s)": [200.0, 150.0], "Parameter(M)": [5.81, 12.3]})
    both = paper.beside_paper(ours, paper.paper_backbone_table())
    assert list(both.columns[:3]) == ["Model", "mIoU(%) (ours)", "mIoU(%) (paper)"]
    assert both["Model"].tolist() == ["Xception", "VGG16", "MobileNetV2", "Improved MobileNetV2", "MobileNetV4",
                                      "Swin Transformerv2", "MobileViT", "ResNet18"]  # paper order, then ours
    row = both.set_index("Model").loc["MobileNetV2"]
    assert row["mIoU(%) (ours)"] == 50.0 and row["mIoU(%) (paper)"] == 65.67
    assert np.isnan(both.set_index("Model").loc["Xception", "mIoU(%) (ours)"])
    assert np.isnan(both.set_index("Model").loc["ResNet18", "mIoU(%) (paper)"])


def test_paper_tables_match_the_spec():
    t1 = paper.paper_backbone_table()
    assert (t1["Source"] == "paper").all() and len(t1) == 7
    first = paper.paper_backbone_table("first")
    assert "Improved MobileNetV2" not in set(first["Model"]) and len(first) == 6
    raw = paper.paper_sff_raw()
    assert raw.query("Groups == 2 and Class == 'corrosion'")["IoU(%)"].item() == 60.1


# ----------------------------------------------------------------------------- figures


def _assert_names_clear_of_markers(fig) -> None:
    """No point name is drawn over a marker's disc (centre and radius from the scatter itself)."""
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    discs = []
    for coll in ax.collections:
        if not hasattr(coll, "get_sizes"):  # error bars
            continue
        sizes = coll.get_sizes()
        for k, xy in enumerate(coll.get_offsets()):
            if np.isfinite(xy).all():
                area = sizes[k % len(sizes)] if len(sizes) else 36.0
                discs.append((*ax.transData.transform(xy), 0.5 * np.sqrt(area) * fig.dpi / 72))
    from matplotlib.text import Text

    for t in ax.texts:
        t.update_positions(r)
        box = Text.get_window_extent(t, r)  # the name; a leader line ends at its own marker's edge
        for cx, cy, rad in discs:
            nx, ny = min(max(cx, box.x0), box.x1), min(max(cy, box.y0), box.y1)  # nearest point of the box
            assert (nx - cx) ** 2 + (ny - cy) ** 2 >= (rad - 1) ** 2, f"{t.get_text()!r} is drawn over a marker"


def test_ablation_scatter_names_keep_clear_of_error_bars_and_lead_to_their_bubble():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.text import Text

    from segkit.report import figures

    df = pd.DataFrame({"Model": ["baseline", "GGCA idx>=4 (paper)", "GGCA all", "SE", "CBAM", "ECA"],
                       "mIoU(%)": [61.2, 62.0, 61.8, 61.5, 60.9, 61.4],
                       "mIoU(%) std": [0.8, 0.6, 0.9, 0.7, 1.1, 0.5],
                       "FPS(f/s)": [44.1, 41.0, 39.5, 43.0, 38.8, 43.6],
                       "Parameter(M)": [5.81, 5.82, 5.85, 5.83, 5.86, 5.81]})
    fig = figures.plot_miou_vs_fps(df)
    fig.canvas.draw()  # the final layout: names were placed after tight_layout
    ax, r = fig.axes[0], fig.canvas.get_renderer()
    assert len(ax.texts) == 6
    _assert_names_clear_of_markers(fig)
    for _, row in df.iterrows():  # no name is crossed by an error bar
        cx, lo = ax.transData.transform((row["FPS(f/s)"], row["mIoU(%)"] - row["mIoU(%) std"]))
        _, hi = ax.transData.transform((row["FPS(f/s)"], row["mIoU(%)"] + row["mIoU(%) std"]))
        for t in ax.texts:
            t.update_positions(r)
            b = Text.get_window_extent(t, r)  # the name, its leader line aside
            assert not (b.x0 < cx < b.x1 and b.y0 < hi and b.y1 > lo), f"{t.get_text()!r} crosses {row['Model']}'s bar"
    far = [t for t in ax.texts if t.arrow_patch is not None]  # a name set away from its bubble points at it
    assert far and all(np.hypot(*t.xyann) > 20 for t in far)


def test_figures_build_without_error():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segkit.report import figures

    h = pd.DataFrame({"epoch": [1, 2, 3], "lr": [1e-4, 5e-4, 1e-5], "train_loss": [1, 0.5, 0.4],
                      "val_loss": [np.nan, 0.6, 0.5], "miou": [np.nan, 0.3, 0.4]})
    assert len(figures.plot_training_curves(h).axes) == 3
    figures.plot_miou_vs_fps(_table1())
    # crowded points: every name is kept, each at a spot where it overlaps no other name
    crowd = pd.DataFrame({"Model": ["SE idx>=4", "COORD idx>=4", "GGCA idx>=4"], "mIoU(%)": [32.6, 32.4, 32.5],
                          "FPS(f/s)": [36.2, 35.8, 36.0], "Parameter(M)": [6.26, 6.16, 5.84]})
    fig = figures.plot_miou_vs_fps(crowd)
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in fig.axes[0].texts]
    assert sorted(t.get_text().split("\n")[0] for t in fig.axes[0].texts) == sorted(crowd["Model"])
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    _assert_names_clear_of_markers(fig)
    many = pd.DataFrame({"m": [f"model-{i}" for i in range(30)],  # 29 in a corner, one far away sets the scale
                         "g": [*np.linspace(1, 1.3, 29), 50.0], "ms": [*np.linspace(10, 12, 29), 400.0]})
    fig = figures.plot_scatter(many, "g", "ms", "m", max_labels=30)
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in fig.axes[0].texts]
    assert 2 <= len(boxes) < 30 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    _assert_names_clear_of_markers(fig)
    # the ablation scatter of the report: seven large bubbles, three of them on top of each other
    ablation = pd.DataFrame({"Model": ["Baseline (MobileNetV2)", "GGCA idx≥4 (paper's placement)", "GGCA all blocks",
                                       "SE idx≥4", "CBAM idx≥4", "ECA idx≥4", "CA idx≥4"],
                             "mIoU(%)": [28.6, 32.3, 31.2, 32.6, 33.2, 26.5, 32.4],
                             "FPS(f/s)": [39.0, 35.8, 26.3, 36.2, 33.6, 36.3, 35.9],
                             "Parameter(M)": [5.81, 5.84, 5.85, 6.26, 6.26, 5.81, 6.16]})
    fig = figures.plot_miou_vs_fps(ablation)
    assert len(fig.axes[0].texts) == 7
    _assert_names_clear_of_markers(fig)
    cm = np.array([[90, 10], [30, 70]])
    fig = figures.plot_confusion_matrix(cm, ["bg", "fg"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["90.0", "10.0", "30.0", "70.0"]  # row-normalised percentages
    gt = np.array([[0, 1], [1, 1]])
    pred = np.array([[1, 1], [0, 1]])
    fig = figures.plot_tp_fp_fn(gt, pred, 1)
    assert "TP 2, FP 1, FN 1, IoU 50.0%" in fig.axes[0].get_title()
    over = figures.overlay_mask(np.zeros((2, 2, 3), np.uint8), gt, 2, alpha=1.0)
    assert over[0, 0].tolist() == [0, 0, 0] and over[0, 1].tolist() == list(figures.class_colors(2)[1])
    # class 0 is a real class (e.g. CamVid's sky): it is coloured too
    assert figures.overlay_mask(np.zeros((2, 2, 3), np.uint8), gt, 2, alpha=1.0, background=None)[0, 0].tolist() == [128] * 3
    plt.close("all")


# ----------------------------------------------------------------------------- runner


def test_parse_override_and_select(tmp_path):
    from segkit.report.runner import list_notebooks, notebook_parameters, parse_override, select_notebooks

    assert parse_override("epochs", "3") == ("epochs", 3)
    assert parse_override("models", "[a, b]") == ("models", ["a", "b"])
    assert parse_override("smoke", "true") == ("smoke", True)
    with pytest.raises(ValueError, match="identifiers"):
        parse_override("bad-key", "1")
    for n in ("00_a", "01_b", "02_c"):
        (tmp_path / f"{n}.ipynb").write_text("{}")
    (tmp_path / "scratch.ipynb").write_text("{}")
    nbs = list_notebooks(tmp_path)
    assert [p.stem for p in nbs] == ["00_a", "01_b", "02_c"]
    assert [p.stem for p in select_notebooks(nbs, ["02,0"])] == ["00_a", "02_c"]
    assert [p.stem for p in select_notebooks(nbs, ["b"])] == ["01_b"]
    with pytest.raises(ValueError, match="matches no notebook"):
        select_notebooks(nbs, ["9"])
    prof = {"notebooks": {"all": {"epochs": 3, "lr": 1}, "01_b": {"epochs": 5}}}
    got = notebook_parameters(prof, "01_b", base={"epochs": 1, "data_root": "d"}, overrides={"lr": 2},
                              declared=["epochs", "lr", "data_root"])
    assert got == {"epochs": 5, "lr": 2, "data_root": "d"}
    assert notebook_parameters(prof, "00_a", declared=["lr"]) == {"lr": 1}


def test_quick_means_one_recipe_for_segkit_train_and_the_notebooks():
    """`segkit train --profile quick`, the quick report and each notebook opened in JupyterLab
    train the same image size, epochs and batch size: the profile's train: section, unless its
    `notebooks: all:` says otherwise."""
    import ast

    from segkit.engine import TrainConfig
    from segkit.report.runner import declared_parameters, list_notebooks, load_profile, notebook_parameters

    for name in ("quick", "paper"):
        cfg, prof = TrainConfig.profile(name), load_profile(name)
        want = {"image_size": cfg.input_shape[0], "epochs": cfg.UnFreeze_Epoch, "batch_size": cfg.Unfreeze_batch_size}
        want.update({k: v for k, v in (prof["notebooks"].get("all") or {}).items() if k in want})
        for nb in list_notebooks(Path(__file__).resolve().parents[2] / "notebooks"):
            declared = declared_parameters(nb)
            got = notebook_parameters(prof, nb.stem, declared=declared)
            section = (prof["notebooks"].get(nb.stem) or {})
            for key, value in want.items():
                if key in declared and key not in section:  # a notebook section may differ on purpose (08's size)
                    assert got[key] == value, (name, nb.stem, key)
                    if name == "quick":  # what JupyterLab runs without the report
                        assert ast.literal_eval(declared[key].split("#")[0].strip()) == value, (nb.stem, key)
    quick = TrainConfig.profile("quick")
    assert (quick.input_shape, quick.UnFreeze_Epoch, quick.Unfreeze_batch_size, quick.seed) == ([64, 64], 6, 4, 0)
    assert quick.summary().startswith("Adam, lr 0.001 from the first step,")  # as given: lr_scaling is off; no warm-up
    assert "warm-up" not in quick.summary()
    assert "SGD (Nesterov" in TrainConfig.profile("paper").summary()


def test_train_parameters_follow_the_train_section():
    from segkit.report.runner import notebook_parameters, train_parameters

    prof = {"train": {"input_shape": [96, 96], "UnFreeze_Epoch": 7, "Unfreeze_batch_size": 2},
            "notebooks": {"all": {"seeds": [0]}, "08_zoo": {"image_size": 256}}}
    assert train_parameters(prof) == {"image_size": 96, "epochs": 7, "batch_size": 2}
    assert notebook_parameters(prof, "02_x", declared=["image_size", "epochs"]) == {"image_size": 96, "epochs": 7}
    assert notebook_parameters(prof, "08_zoo", declared=["image_size"]) == {"image_size": 256}
    assert notebook_parameters(prof, "02_x", overrides={"epochs": 1}, declared=["epochs"]) == {"epochs": 1}
    assert train_parameters({"train": {"input_shape": [64, 128]}}) == {}  # the notebooks train square inputs


def test_report_kernels_start_without_the_tcp_warning(tmp_path, capfd):
    """Each notebook's kernel used to print "Kernel is running over TCP without encryption"."""
    import nbformat

    from segkit.report.runner import run_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print('kernel ok')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "a.ipynb")
    run_notebook(tmp_path / "a.ipynb", tmp_path / "b.ipynb", progress_bar=False)
    err = capfd.readouterr().err
    assert "without encryption" not in err, err
    assert "kernel ok" in (tmp_path / "b.ipynb").read_text()


def test_each_notebook_runs_in_its_own_kernel_warmed_up_while_the_one_before_runs(tmp_path):
    """The next kernel starts and imports segkit during the current notebook; no state passes between them."""
    import nbformat

    from segkit.report.runner import run_notebooks

    probe = ("import os, sys\n"
             "print('warm', 'segkit.experiments' in sys.modules, 'flag', bool(os.environ.get('SEGKIT_WARMING')))\n"
             "print('leaked', 'marker' in globals())\n"
             "marker = 1")
    for name in ("01_a", "02_b"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(probe)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    results = run_notebooks([tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"], tmp_path / "out", progress_bar=False,
                            log=lambda line: None)
    for res in results:
        cell = nbformat.read(res.output_path, as_version=4).cells[-1]
        assert cell.execution_count == 1  # the warm-up ran outside the notebook's history
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert "warm True flag True" in text and "leaked False" in text, text


def test_latency_waits_while_a_report_warms_up_a_kernel(tmp_path, monkeypatch):
    import threading
    import time

    from segkit.bench.timing import WARMING_ENV, wait_until_quiet

    flag = tmp_path / "warming"
    flag.touch()
    monkeypatch.setenv(WARMING_ENV, str(flag))
    threading.Timer(0.3, flag.unlink).start()
    t0 = time.monotonic()
    wait_until_quiet()
    assert time.monotonic() - t0 >= 0.25 and not flag.exists()
    t0 = time.monotonic()
    wait_until_quiet()  # no warm-up: no wait
    assert time.monotonic() - t0 < 0.1


def test_export_warns_when_no_cjk_font_would_render_the_chinese_paragraphs(tmp_path, monkeypatch):
    from segkit.report import export

    lines: list[str] = []
    monkeypatch.setattr(export, "cjk_font_installed", lambda: False)
    export.export_report([_tiny_notebook(tmp_path / "00_tiny.ipynb")], tmp_path / "out", pdf=False, log=lines.append)
    assert any("no CJK font" in ln and "fonts-noto-cjk" in ln for ln in lines), lines
    with pytest.raises(ValueError, match="page_size='B7'.*A4"):
        export.export_report([], tmp_path / "out", pdf=False, log=lines.append, page_size="B7")


def test_pdf_browser_is_found_in_the_usual_windows_folders(tmp_path, monkeypatch):
    """No Chromium on PATH on Windows: Edge (shipped with Windows) or Chrome in Program Files is used."""
    from segkit.report import export

    edge = tmp_path / "Program Files (x86)" / "Microsoft" / "Edge" / "Application" / "msedge.exe"
    edge.parent.mkdir(parents=True)
    edge.write_text("")
    edge.chmod(0o755)
    env = {"PROGRAMFILES": str(tmp_path / "Program Files"), "PROGRAMFILES(X86)": str(tmp_path / "Program Files (x86)"),
           "LOCALAPPDATA": str(tmp_path / "AppData" / "Local")}
    spots = export.browser_locations(env, "Windows")
    assert edge in spots and Path(env["PROGRAMFILES"], "Google", "Chrome", "Application", "chrome.exe") in spots
    assert any("Google Chrome.app" in str(p) for p in export.browser_locations({}, "Darwin"))
    monkeypatch.setattr(export, "browser_locations", lambda: spots)
    monkeypatch.delenv("SEGKIT_CHROMIUM", raising=False)
    monkeypatch.setattr(export.shutil, "which", lambda name: None)
    assert export.find_chromium() == str(edge)
    chrome = Path(env["LOCALAPPDATA"], "Google", "Chrome", "Application", "chrome.exe")
    chrome.parent.mkdir(parents=True)
    chrome.write_text("")
    chrome.chmod(0o755)
    assert export.find_chromium() == str(chrome)  # Chrome first, then Edge


def test_page_size_choices_match_the_exporter():
    from segkit.commands.report import PAGE_SIZES
    from segkit.report.export import PAGE_SIZES as SIZES

    assert PAGE_SIZES == tuple(SIZES)


def test_profiles_carry_notebook_sections():
    from segkit.report.runner import load_profile

    for name in ("quick", "paper"):
        prof = load_profile(name)
        assert "train" in prof and "all" in prof["notebooks"] and "synthetic" in prof["report"]
    with pytest.raises(ValueError, match="unknown profile 'nope'.*Available: paper, quick"):
        load_profile("nope")


@pytest.mark.parametrize("name", ["quick", "paper"])
def test_the_paper_figures_show_a_model_notebook_02_trains(name):
    """06's figures need 02's runs alone (segkit report --only 02,06), whichever model a profile gives 02."""
    from segkit.report.runner import declared_parameters, load_profile, notebook_parameters

    def params(stem):
        nb = Path(__file__).resolve().parents[2] / "notebooks" / f"{stem}.ipynb"
        defaults = {k: ast.literal_eval(v) for k, v in declared_parameters(nb).items() if k in ("model_name", "main_run")}
        return {**defaults, **notebook_parameters(load_profile(name), stem, declared=defaults)}

    assert params("06_paper_figures_tables")["main_run"] == "training/" + params("02_training")["model_name"]


# ----------------------------------------------------------------------------- export


def _tiny_notebook(path: Path, widget: bool = True) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny\ntext"), nbformat.v4.new_code_cell("print(1)")]
    out = {"output_type": "display_data", "metadata": {},
           "data": {"text/plain": "IntSlider(value=1)",
                    "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                                 "version_minor": 0}}}
    if widget:
        nb.cells[1].outputs = [nbformat.from_dict(out)]
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                                "version_minor": 0}}
    nbformat.write(nb, path)
    return path


def test_html_export_is_offline(tmp_path):
    from segkit.report.export import WIDGET_NOTE, notebook_to_html, write_index

    nb = _tiny_notebook(tmp_path / "00_tiny.ipynb")
    page = notebook_to_html(nb, tmp_path / "html" / "00_tiny.html", nav_html='<a href="../index.html">index</a>')
    html = page.read_text()
    # a widget's repr means nothing on a static page: it prints as a one-line note
    assert "<h1" in html and "IntSlider(value=1)" not in html and WIDGET_NOTE in html
    assert not re.findall(r"<script[^>]+src=\"https?://", html)  # no CDN scripts (RequireJS, MathJax, widgets)
    assert "application/vnd.jupyter.widget-state+json" not in html
    (tmp_path / "tables").mkdir()
    tables.save_table(_table1(), "t1", tmp_path / "tables")
    idx = write_index(tmp_path, [("html/00_tiny.html", "00_tiny", "Tiny")], "Report", tables_dir=tmp_path / "tables")
    body = idx.read_text()
    assert 'href="html/00_tiny.html"' in body and "<h3>t1</h3>" in body and 'href="tables/t1.tex"' in body
    assert body.count("<strong>") == (tmp_path / "tables" / "t1.md").read_text().count("**") // 2  # best in bold
    assert "<table>" in body and "<td>**" not in body


@pytest.mark.browser
def test_pdf_export_with_chromium(tmp_path):
    from segkit.report.export import find_chromium, html_to_pdf, notebook_to_html

    if find_chromium() is None:
        pytest.skip("no Chromium binary (/usr/bin/chromium or SEGKIT_CHROMIUM); the PDF export needs it")
    page = notebook_to_html(_tiny_notebook(tmp_path / "00_tiny.ipynb"), tmp_path / "t.html")
    pdf = html_to_pdf(page, tmp_path / "t.pdf", timeout=120)
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 1000


def test_pdf_export_without_chromium_explains(tmp_path, monkeypatch):
    from segkit.report import export

    monkeypatch.setattr(export, "find_chromium", lambda *a, **k: None)
    with pytest.raises(FileNotFoundError, match="apt-get install chromium"):
        export.html_to_pdf(tmp_path / "x.html", tmp_path / "x.pdf")


def test_report_command_is_registered():
    from segkit.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["report", "--profile", "paper", "--data", "d", "-p", "epochs", "2", "-p", "lang", "zh",
                              "--force", "--only", "02", "--only", "06"])
    assert args.profile == "paper" and args.data == "d" and args.force
    assert args.parameter == [["epochs", "2"], ["lang", "zh"]] and args.only == ["02", "06"]


# ----------------------------------------------------------------------------- experiments, widgets


def test_parse_entries_normalises_and_rejects_mistakes():
    from segkit.report.experiments import parse_entries

    got = parse_entries(["improved-mobilenetv2", {"name": "vgg", "model": "deeplabv3plus-vgg16", "label": "VGG16"},
                         {"model": "deeplabv3plus", "model_kwargs": {"attn": "se"}, "name": "se"}])
    assert [(e.name, e.model, e.label) for e in got] == [("improved-mobilenetv2", "improved-mobilenetv2",
                                                          "improved-mobilenetv2"),
                                                         ("vgg", "deeplabv3plus-vgg16", "VGG16"),
                                                         ("se", "deeplabv3plus", "se")]
    assert got[2].model_kwargs == {"attn": "se"}
    with pytest.raises(ValueError, match="repeat the run names"):
        parse_entries(["a", {"name": "a", "model": "b"}])
    with pytest.raises(ValueError, match="unknown keys"):
        parse_entries([{"model": "a", "backbone": "x"}])
    ema = parse_entries([{"name": "ema", "model": "deeplabv3plus", "train": {"ema_decay": 0.9}}])[0]
    assert ema.train == {"ema_decay": 0.9} and got[0].train == {}


def test_an_entrys_train_keys_change_only_its_runs(tmp_path):
    from segkit.engine import TrainConfig
    from segkit.experiments import run_experiment

    cfg = TrainConfig.profile("quick", UnFreeze_Epoch=1, input_shape=[32, 32], max_train_batches=1, max_val_images=1)
    with pytest.raises(ValueError, match="ema_decy"):  # a misspelt key is named before anything trains
        run_experiment([{"name": "x", "model": "deeplabv3plus-mobilenetv2", "train": {"ema_decy": 0.9}}], "e", cfg,
                       tmp_path / "no-data", tmp_path / "runs", log=None)


def test_run_experiment_in_two_processes_equals_one_after_another(synthetic_root, tmp_path):
    import json

    import torch

    from segkit._registry import UnknownNameError
    from segkit.experiments import run_experiment, train_config

    cfg = train_config("quick", epochs=1, batch_size=4, image_size=64, smoke=True, num_workers=0, seed=0)
    entries = ["deeplabv3plus-mobilenetv2", {"name": "se", "model": "deeplabv3plus-mobilenetv2",
                                             "model_kwargs": {"attn": "se", "attn_policy": "paper"}}]
    lines: list[str] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers get 1 thread each too: same float order, same weights
    try:
        # separate roots: within one root the second experiment would link the first one's identical runs
        seq = run_experiment(entries, "exp", cfg, synthetic_root, tmp_path / "seq", bench_runs=1, log=None)
        par = run_experiment(entries, "exp", cfg, synthetic_root, tmp_path / "par", bench_runs=1, log=lines.append,
                             workers=2, executor_options={"gpus": ["0", "1"]})
    finally:
        torch.set_num_threads(threads)
    assert any("up to 2 at once in processes" in ln for ln in lines) and sum("training " in ln for ln in lines) == 2
    # each process was pinned to its own GPU id (here a CPU run: the id is only passed on)
    assert sorted(re.findall(r"CUDA_VISIBLE_DEVICES=(\d)", " ".join(lines))) == ["0", "1"]
    assert not any("reusing" in ln for ln in lines)
    # the complete runs are reused here, without a process; the new ones train in processes, and each
    # run's line gives that run's own duration, not a shared time since the start
    lines.clear()
    new = [{"name": a, "model": "deeplabv3plus-mobilenetv2", "model_kwargs": {"attn": a, "attn_policy": "paper"}}
           for a in ("eca", "cbam")]
    t0 = time.perf_counter()
    run_experiment([*entries, *new], "exp", cfg, synthetic_root, tmp_path / "par", bench_runs=1, log=lines.append,
                   workers=2)
    elapsed = time.perf_counter() - t0
    took = [float(m.group(1)) for ln in lines if (m := re.search(r": done in ([\d.]+) s$", ln))]
    assert sum(ln.startswith("reusing") for ln in lines) == 2 and any("2 runs, up to 2 at once" in ln for ln in lines)
    assert sum(ln.startswith("training") for ln in lines) == 2
    assert len(took) == 2 and all(0 < t < elapsed for t in took), (lines, elapsed)
    # one run left to train (the others complete) trains in this process, on every core
    lines.clear()
    ema = {"name": "ema", "model": "deeplabv3plus-mobilenetv2", "train": {"ema_decay": 0.9}}
    run_experiment([*entries, ema], "exp", cfg, synthetic_root, tmp_path / "par", bench_runs=1, log=lines.append,
                   workers=2)
    assert not any("in processes" in ln for ln in lines) and sum(ln.startswith("training") for ln in lines) == 1
    assert par.table["Model"].tolist() == seq.table["Model"].tolist() == ["deeplabv3plus-mobilenetv2", "se"]
    for name in ("deeplabv3plus-mobilenetv2", "se"):
        a, b = (json.loads((tmp_path / e / "exp" / name / "seed0" / "metrics.json").read_text()) for e in ("seq", "par"))
        assert a["miou"] == b["miou"]
        timed = json.loads((tmp_path / "par" / "exp" / name / "seed0" / "bench.json").read_text())["protocol"]
        assert timed["runs"] == 1 and timed["interleaved"].startswith("1 round(s), taking turns with 1 other")  # the two took turns
    bad = [{"name": "x", "model": "deeplabv3plus-mobilenetv2", "train": {"Init_lr": 1e30, "Min_lr": 1e30}},
           "improved-mobilenetv2"]  # the loss of x turns NaN while it trains, in its worker
    with pytest.raises(RuntimeError, match="failed in a worker process.*NonFiniteLossError"):
        run_experiment(bad, "bad", cfg, synthetic_root, tmp_path, bench_runs=1, log=None, workers=2)
    unknown = [{"name": "y", "model": "deeplabv3plus-mobilenetv2", "model_kwargs": {"attn": "nope"}}, "improved-mobilenetv2"]
    with pytest.raises(UnknownNameError, match="unknown module 'nope'"):  # found while planning, before any process
        run_experiment(unknown, "bad", cfg, synthetic_root, tmp_path, bench_runs=1, log=None, workers=2)
    with pytest.raises(ValueError, match="workers=0"):
        run_experiment(entries, "seq", cfg, synthetic_root, tmp_path, log=None, workers=0)


class _FakeDataset:
    class_names = ["background", "corrosion", "broken_wire"]
    ids = ["a", "b"]

    def __len__(self):
        return 2

    def load_original(self, i):
        mask = np.zeros((8, 8), np.int64)
        mask[2:4, 2:4] = i + 1
        return np.full((8, 8, 3), 100, np.uint8), mask


def test_widgets_build_and_react():
    import matplotlib

    matplotlib.use("Agg")
    pytest.importorskip("ipywidgets")
    from segkit.report.widgets import dataset_browser, option_picker

    box = dataset_browser(_FakeDataset())
    slider = box.children[0]
    assert slider.max == 1
    slider.value = 1  # re-renders without error
    calls = []

    def render(layer, cls):
        import matplotlib.pyplot as plt

        calls.append((layer, cls))
        return plt.figure()

    picker = option_picker(render, {"layer": ["backbone", "neck"], "cls": [1, 2]})
    picker.children[0].children[1].value = 2
    assert calls == [("backbone", 1), ("backbone", 2)]
    with pytest.raises(ValueError, match="options is empty"):
        option_picker(render, {})


def test_best_is_judged_at_printed_precision():
    df = pd.DataFrame({"Model": ["a", "b", "c"], "GFLOPs": [0.8201, 0.8199, 0.9], "mIoU(%)": [1.004, 1.001, 0.5]})
    md = tables.to_markdown(df)
    assert "| a | 0.82 | 1.00 |" in md and "| b | 0.82 | 1.00 |" in md  # equal as printed: a tie, no bold
    assert "**" not in md
    assert tables.best_mask(df)["GFLOPs"].tolist() == [False, True, False]  # full precision without digits


def test_a_column_equal_in_every_row_is_not_bold():
    """The model-zoo case: GFLOPs 0.82 in all rows is no one's win; the unique best mIoU still is."""
    df = pd.DataFrame({"Model": [f"m{i}" for i in range(7)], "GFLOPs": [0.82] * 7,
                       "mIoU(%)": [60.0, 61.0, 62.5, 61.0, 60.0, 59.0, 58.0]})
    md = tables.to_markdown(df)
    assert "**0.82**" not in md and md.count("**") == 2 and "**62.50**" in md
    assert "textbf{0.82}" not in tables.to_latex(df)


def test_latex_escapes_relations_symbols_and_drops_a_table_number_from_the_caption(tmp_path):
    df = pd.DataFrame({"Model": ["Baseline (MobileNetV2)", "GGCA idx>=4 (paper's placement)", "SE idx≥4", "a<b_c"],
                       "mIoU(%)": [60.0, 61.5, 59.0, 58.0], "mIoU(%) std": [0.5, 0.4, None, 1.0],
                       "ΔmIoU": [None, 1.5, -1.0, -2.0], "95% CI (seeds)": ["–", "[0.2, 2.8]", "[-3.1, 1.1]", "–"]})
    tex = tables.to_latex(df, caption="Table 1: attention × placement; Δ vs baseline, 95 % CIs", label="tab:x")
    assert r"\caption{Attention $\times$ placement; $\Delta$ vs baseline, 95 \% CIs}" in tex
    assert "Table 1" not in tex
    assert r"GGCA idx$\geq$4 (paper's placement)" in tex and r"SE idx$\geq$4" in tex
    assert r"a\textless{}b\_c" in tex and r"$\Delta$mIoU" in tex and r"61.50 $\pm$ 0.40" in tex
    assert not any(ch in tex for ch in "≥Δ×<>")
    from segkit.report.latex import compile_latex, latex_document, latex_engine

    if latex_engine() is None:
        pytest.skip("no LaTeX engine (pdflatex/xelatex/lualatex); the escaping is checked, compiling is not")
    (tmp_path / "t.tex").write_text(tex, encoding="utf-8")
    (tmp_path / "doc.tex").write_text(latex_document(["t.tex"], ("booktabs",), separator=""), encoding="utf-8")
    compile_latex(tmp_path / "doc.tex", timeout=120)  # raises on an error or a dropped character


def test_every_module_and_aspp_head_has_a_display_name():
    from segkit.models.heads import ASPP_HEADS
    from segkit.modules import list_modules
    from segkit.report import display_name

    for key in [*list_modules()["name"], *ASPP_HEADS]:
        assert display_name(key) != key or key.isupper(), f"{key!r} needs a human name in segkit/report/names.py"
    assert display_name("msa_aspp") == "MSA-ASPP" and display_name("coord") == "CA"
    assert display_name("not-registered") == "not-registered"


def test_class_iou_curves_one_line_per_class_in_the_dataset_colours():
    import matplotlib.colors as mcolors

    from segkit.report import plot_class_iou_curves

    hist = pd.DataFrame({"epoch": [1, 2, 3, 4], "iou_background": [0.5, None, 0.8, 0.9],
                         "iou_defect": [0.0, None, 0.1, 0.3]})  # epoch 2 was not evaluated
    palette = [(0, 0, 0), (220, 90, 20)]
    fig = plot_class_iou_curves(hist, palette=palette)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["background", "defect"]
    assert list(lines[1].get_xdata()) == [1, 3, 4] and list(lines[1].get_ydata()) == pytest.approx([0, 10, 30])
    assert mcolors.to_rgb(lines[1].get_color()) == pytest.approx((220 / 255, 90 / 255, 20 / 255))
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
    one = plot_class_iou_curves(hist.iloc[3:])  # a single evaluation (a one-epoch run): still whole epochs
    assert all(float(t).is_integer() for t in one.axes[0].get_xticks()) and 4 in one.axes[0].get_xticks()
    with pytest.raises(ValueError, match="iou_<class>"):
        plot_class_iou_curves(pd.DataFrame({"epoch": [1]}))


# ----------------------------------------------------------------------------- models that did not learn


def _seed_rows(name, miou, class_iou, seeds=(0, 1, 2)):
    return [{"experiment": "e", "name": name, "seed": s, "miou": miou, "f1": miou, "fps": 10.0, "params_m": 5.0,
             "class_iou": dict(class_iou), "run_dir": f"/r/{name}/seed{s}"} for s in seeds]


def test_results_table_marks_models_that_did_not_learn_and_never_bolds_them():
    from segkit.report.runs import results_table

    runs = pd.DataFrame(_seed_rows("learned", 55.0, {"background": 96.0, "corrosion": 40.0, "broken_wire": 30.0})
                        + _seed_rows("all-background", 33.0, {"background": 98.0, "corrosion": 0.0, "broken_wire": 1.0})
                        + _seed_rows("weaker", 50.0, {"background": 95.0, "corrosion": 30.0, "broken_wire": 20.0}))
    table = results_table(runs, columns=("miou", "fps"), order=["learned", "all-background", "weaker"])
    assert list(table["Not learned"]) == ["–", "corrosion, broken_wire", "–"]
    # the defect classes get their own columns (mean ± std over seeds); background does not
    assert {"IoU corrosion(%)", "IoU broken_wire(%)", "IoU corrosion(%) std"} <= set(table.columns)
    assert "IoU background(%)" not in table.columns
    assert table["IoU broken_wire(%)"].tolist() == [30.0, 1.0, 20.0]
    # the all-background model has the higher background IoU, yet is never bold for accuracy
    table["IoU background(%)"] = [96.0, 98.0, 95.0]
    mask = tables.best_mask(table)
    assert not mask.loc[1, "IoU background(%)"] and not mask.loc[1, "mIoU(%)"]
    assert mask.loc[0, "mIoU(%)"]
    md = tables.to_markdown(table)
    assert "corrosion, broken\\_wire" in md and "40.00 ± 0.00" in md


def test_paragraph_names_models_that_did_not_learn_and_claims_nothing_of_them():
    df = _ablation_table(["base", "x", "y"], [55.0, 57.0, 33.0])
    good = _diff("x", 2.0, (1.0, 3.0), (1.5, 2.5))
    empty = replace(_diff("y", -22.0, (-23.0, -21.0), (-22.5, -21.5)), variant_not_learned=("corrosion", "broken_wire"))
    assert good.supported and not empty.supported and not empty.comparable
    en = text.ablation_paragraph(df, [good, empty], "base")
    assert "Not learned (IoU under 5 % on the scored images), so these are not compared: y (corrosion, broken\\_wire)." in en
    assert "1 of 1 variants improves on it" in en and "Lower than the baseline" not in en  # y is never called worse
    zh = text.ablation_paragraph(df, [good, empty], "base", lang="zh")
    assert "未学会的类别" in zh and "y（corrosion, broken\\_wire）" in zh
    # a baseline that did not learn: nothing is compared with it
    both = [replace(d, baseline_not_learned=("broken_wire",)) for d in (good, empty)]
    en = text.ablation_paragraph(df, both, "base")
    assert "The baseline has not learned broken\\_wire" in en and "improves" not in en and "Within noise" not in en


def test_intervals_of_a_model_that_did_not_learn_are_not_shown_as_evidence():
    from segkit.report.compare import with_differences

    table = _ablation_table(["base", "x", "y"], [55.0, 57.0, 33.0])
    diffs = [_diff("x", 2.0, (1.0, 3.0), (1.5, 2.5)),
             replace(_diff("y", -22.0, (-23.0, -21.0), (-22.5, -21.5)), variant_not_learned=("corrosion",))]
    out = with_differences(table, diffs)
    assert list(out["95% CI (seeds)"]) == ["–", "[+1.00, +3.00]", "n/a (not learned)"]
    assert list(out["95% CI (images)"])[2] == "n/a (not learned)"


def test_not_learned_rule():
    from segkit.metrics import NOT_LEARNED_IOU, is_background, not_learned

    assert NOT_LEARNED_IOU == 0.05
    assert not_learned({"background": 0.97, "corrosion": 0.049, "wire": 0.05, "absent": float("nan")}) == ["corrosion"]
    assert is_background("Background") and not is_background("Sky")


def test_ensure_dataset_compares_the_generator_arguments_it_is_given(tmp_path):
    """The profile's embedded data (report: synthetic:) is regenerated when a generator argument
    differs, and reused when a notebook asks for what is there."""
    from segkit.report.pipeline.plan import generator_settings
    from segkit.data.synthetic import ensure_dataset

    logged: list[str] = []
    root = ensure_dataset(tmp_path / "d", n_images=6, size=64, log=logged.append, damage_scale=2.0, dark_wires=0.0)
    made = json.loads((root / "synthetic.json").read_text())
    assert (made["damage_scale"], made["dark_wires"]) == (2.0, 0.0)
    asked = {"n_images": 6, "size": 64, "val_fraction": 0.1, "damage_scale": 2.0, "dark_wires": 0.0}
    passed = generator_settings(made, asked)
    assert passed == {"val_fraction": 0.1, "damage_scale": 2.0, "dark_wires": 0.0}  # what the notebooks get
    logged.clear()
    ensure_dataset(root, n_images=6, size=64, log=logged.append, **passed)
    assert logged == []  # reused
    ensure_dataset(root, n_images=6, size=64, log=logged.append, damage_scale=1.0)
    assert logged == [f"regenerating synthetic data in {root} (damage_scale 2.0 -> 1.0)"]


def test_class_paragraph_names_only_supported_per_class_differences():
    """Per-class IoU differences: claimed only when both intervals support them; models that
    have not learned a class are left out."""
    from dataclasses import replace

    from segkit.report.stats import compare, metric_from_hist
    from segkit.report.text import class_paragraph

    rng = np.random.default_rng(0)

    def cms(tp_wire: int) -> np.ndarray:  # (seeds, images, K, K): background, corrosion, wire
        out = np.zeros((3, 20, 3, 3))
        out[..., 0, 0], out[..., 1, 1], out[..., 1, 0] = 900, 40, 10
        out[..., 2, 2] = tp_wire + rng.integers(0, 3, (3, 20))
        out[..., 2, 0] = 50 - out[..., 2, 2]
        return out

    better, base = cms(40), cms(20)
    assert metric_from_hist(base[0].sum(0), "iou@2") == pytest.approx(
        100 * base[0, :, 2, 2].sum() / (base[0, :, 2, :].sum() + base[0, :, :, 2].sum() - base[0, :, 2, 2].sum()))
    per_seed = [float(metric_from_hist(c.sum(0), "iou@2")) for c in (better[0], better[1], better[2])]
    base_seed = [float(metric_from_hist(c.sum(0), "iou@2")) for c in (base[0], base[1], base[2])]
    d = replace(compare("SE", "Baseline", per_seed, base_seed, better, base, metric="iou@2"), metric="iou@2:broken_wire")
    assert d.supported and d.delta > 0
    text = class_paragraph([d], "en")
    assert text.startswith("Per class, the IoU differences from the baseline that both intervals support")
    assert "SE broken\\_wire +" in text
    assert "broken\\_wire" in class_paragraph([d], "zh")
    same = replace(compare("CBAM", "Baseline", base_seed, base_seed, base, base, metric="iou@2"), metric="iou@2:wire")
    assert class_paragraph([same], "en") == ("No per-class IoU difference from the baseline is supported by both "
                                             "95 % intervals.")
    assert class_paragraph([replace(d, variant_not_learned=("broken_wire",))], "en") == ""  # no evidence


def test_an_entry_trains_on_its_own_seeds_beside_a_baseline_on_three(tmp_path, monkeypatch):
    """quick's backbone table: the baseline on seeds 0-2, the GGCA model on 0-1 (its `seeds`)."""
    from segkit.engine import TrainConfig
    from segkit.experiments import grid
    from segkit.report.experiments import experiment_results, parse_entries

    trained = []

    class Recorder:
        def run(self, jobs, log):
            trained.extend((j.run_dir.parent.name, j.cfg.seed) for j in jobs)
            for j in jobs:
                _fake_run(tmp_path, "bb", j.run_dir.parent.name, 0.60 + 0.01 * j.cfg.seed, 90.0, 5, seed=j.cfg.seed)

    monkeypatch.setattr(grid, "make_executor", lambda *a, **k: Recorder())
    entries = [{"name": "base", "model": "deeplabv3plus-mobilenetv2"},
               {"name": "ggca", "model": "improved-mobilenetv2", "seeds": [0, 1]}]
    res = grid.run_experiment(entries, "bb", TrainConfig(), tmp_path / "data", tmp_path, seeds=[0, 1, 2],
                              baseline="base", log=None)
    assert trained == [("base", 0), ("base", 1), ("base", 2), ("ggca", 0), ("ggca", 1)]
    assert res.table["n"].tolist() == [3, 2]
    again = experiment_results(tmp_path, "bb", parse_entries(entries), baseline="base", seeds=[0, 1, 2])
    assert again.table["n"].tolist() == [3, 2]
    with pytest.raises(ValueError, match="'seeds' must be a non-empty list of integers"):
        parse_entries([{"model": "m", "seeds": "0,1"}])
