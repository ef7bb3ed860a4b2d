"""The module-combination ablation of the paper's full model, and the remedies tried on it.

The full model (SFF-WAdeeplab) adds three modules to DeepLabV3+-MobileNetV2: GGCA attention in
the backbone, shallow feature fusion (SFF) and an attention ASPP. Each helped on its own, the
combination scored below them. This module names every combination as an experiment entry
(``combination_entries``), judges each against the baseline *and* against the best single module
(``combination_results``), and writes the sentences that say whether the full model is shown to be
below its best single module (``combination_paragraphs``). docs/full_model_ablation.md has the design.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Mapping, Sequence

import pandas as pd

from segkit.report.experiments import ExperimentResults, experiment_results
from segkit.report.stats import Difference
from segkit.report.text import best_single_sentence

__all__ = ["MODULES", "REMEDIES", "combination_entries", "remedy_entries", "as_entry", "CombinationResults",
           "combination_results", "combination_paragraphs"]

MODULES = ("ggca", "sff", "aspp")
_LABELS = {"ggca": "GGCA", "sff": "SFF"}

# the registry presets of the paper's own combinations (SFF group 2, MSA-ASPP): notebook 04 trains some
# of the same presets, and a run is shared between notebooks only when its model name is the same
_PAPER_PRESETS = {(): "deeplabv3plus-mobilenetv2", ("ggca",): "improved-mobilenetv2",
                  ("sff",): "deeplabv3plus-mobilenetv2-sff2", ("aspp",): "deeplabv3plus-mobilenetv2-msa-aspp",
                  ("ggca", "sff"): "improved-mobilenetv2-sff2", ("ggca", "aspp"): "improved-mobilenetv2-msa-aspp",
                  ("sff", "aspp"): "deeplabv3plus-mobilenetv2-sff2-msa-aspp", MODULES: "sff-wadeeplab"}


def combination_entries(rows: Sequence[Sequence[str]] | str = "all", aspp: str = "msa_aspp",
                        fusion: str = "sff2") -> list[dict[str, Any]]:
    """Experiment entries (``run_experiment``) for combinations of the three modules.

    Args:
        rows: "all" (baseline, the three singles, the three pairs, the full model) or a list of
            module tuples, e.g. ``[(), ("ggca",), ("sff",), ("ggca", "sff", "aspp")]``.
        aspp: the attention ASPP (``"msa_aspp"``, the paper's; ``"wa_aspp"`` needs 128 px or more).
        fusion: the SFF group (``"sff2"``, the paper's).

    Each entry's name is ``baseline``, ``full`` or the modules joined by ``+``; ``modules`` holds them.
    """
    wanted = _rows(rows)
    return [_entry(m, aspp, fusion) for m in wanted]


def _rows(rows: Sequence[Sequence[str]] | str) -> list[tuple[str, ...]]:
    if rows == "all":
        return [c for k in range(len(MODULES) + 1) for c in combinations(MODULES, k)]
    out = []
    for r in rows:
        bad = [m for m in r if m not in MODULES] if not isinstance(r, str) else [r]
        if bad:
            raise ValueError(f"combination {r!r}: each row is a list of modules from {list(MODULES)}, e.g. ['ggca', 'sff']")
        out.append(tuple(m for m in MODULES if m in r))
    return out


def _entry(modules: tuple[str, ...], aspp: str, fusion: str) -> dict[str, Any]:
    labels = {**_LABELS, "aspp": aspp.upper().replace("_", "-")}
    name = "baseline" if not modules else "full" if modules == MODULES else "+".join(modules)
    label = ("Baseline (MobileNetV2)" if not modules else
             "Full (" + " + ".join(labels[m] for m in modules) + ")" if modules == MODULES else
             " + ".join(labels[m] for m in modules))
    if aspp == "msa_aspp" and fusion == "sff2":
        return {"name": name, "model": _PAPER_PRESETS[modules], "label": label, "modules": modules}
    kwargs = {"attn": "ggca", "attn_policy": "paper"} if "ggca" in modules else {}
    kwargs.update({"fusion": fusion} if "sff" in modules else {})
    kwargs.update({"aspp": aspp} if "aspp" in modules else {})
    return {"name": name, "model": "deeplabv3plus-mobilenetv2", "label": label, "model_kwargs": kwargs,
            "modules": modules}


def as_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """`entry` without ``modules`` (what ``run_experiment`` takes)."""
    return {k: v for k, v in entry.items() if k != "modules"}


@dataclass
class CombinationResults:
    """The combination table and its two references.

    Attributes:
        results: the experiment's results against the baseline (``ExperimentResults``).
        table: ``results.table`` plus ``ΔmIoU vs best single`` and its two intervals.
        best_single: the label of the single module with the highest mean mIoU.
        against_best: ``Difference`` of every row with two or more modules against the best single.
    """

    results: ExperimentResults
    table: pd.DataFrame
    best_single: str
    against_best: list[Difference]


def combination_results(runs_dir: Any, experiment: str, entries: Sequence[Mapping[str, Any]],
                        seeds: Sequence[int] | None = None, metrics: Sequence[str] = (),
                        reference: str | None = None) -> CombinationResults:
    """Every entry against the baseline and, for the rows with two or more modules (and remedies,
    entries without ``modules``), against the best single module.

    Args:
        entries: from ``combination_entries`` (and remedy entries, which have no ``modules``);
            the baseline and at least one single module must be among them.
        reference: the label or name of the row to compare the others with besides the baseline
            (default: the single module with the highest mean mIoU).

    Raises:
        ValueError: no baseline or no single module among the entries.
    """
    from segkit.report.compare import baseline_differences, with_differences

    singles = [e for e in entries if len(e.get("modules", ())) == 1]
    base = next((e for e in entries if "modules" in e and not e["modules"]), None)
    if base is None or not singles:
        raise ValueError("the combination table needs the baseline and at least one single module; "
                         f"entries are {[e['name'] for e in entries]}")
    res = experiment_results(runs_dir, experiment, [as_entry(e) for e in entries], baseline=base["name"],
                             seeds=seeds, metrics=metrics)
    miou = dict(zip(res.table["Model"], res.table["mIoU(%)"]))
    best = _reference(entries, singles, miou, reference)
    others = [e["name"] for e in entries if len(e.get("modules", MODULES)) > 1 and e["name"] != best["name"]]
    runs = res.runs[res.runs["name"].isin([best["name"], *others])]
    against = baseline_differences(runs, best["name"], res.labels) if others else []
    table = with_differences(res.table, against, suffix=" vs best single" if reference is None else
                             f" vs {best['label']}")
    return CombinationResults(res, table, best["label"], against)


def _reference(entries: Sequence[Mapping[str, Any]], singles: Sequence[Mapping[str, Any]],
               miou: Mapping[str, float], reference: str | None) -> Mapping[str, Any]:
    if reference is not None:
        found = next((e for e in entries if reference in (e["name"], e["label"])), None)
        if found is None:
            raise ValueError(f"reference {reference!r} is not an entry; entries are {[e['label'] for e in entries]}")
        return found
    scored = [e for e in singles if e["label"] in miou and pd.notna(miou[e["label"]])]
    if not scored:
        raise ValueError(f"no single module among {[e['label'] for e in singles]} has a finished run")
    return max(scored, key=lambda e: miou[e["label"]])


def combination_paragraphs(result: CombinationResults, full: str = "full") -> dict[str, str]:
    """English and Chinese sentences: the usual comparison with the baseline, then whether the full
    model (entry name or label `full`) is shown to be below, above or not to differ from the best
    single module, judged by both 95 % intervals; a model that has not learned a class is no evidence."""
    res = result.results
    base = res.paragraphs("combination")
    label = res.labels.get(full, full)
    d = next((x for x in result.against_best if x.name == label), None)
    if d is None:
        return base
    sentence = {lang: best_single_sentence(d, lang) for lang in ("en", "zh")}
    return {lang: base[lang] + ("" if lang == "zh" else " ") + sentence[lang] for lang in base}


REMEDIES = ("warm_start", "zero_gate", "staged", "distill", "pretrained")
_REMEDY_LABELS = {"warm_start": "warm start from the single-module runs", "zero_gate": "zero-initialised gates",
                  "staged": "staged (modules frozen for the first half)", "distill": "distilled from the best single",
                  "pretrained": "ImageNet-pretrained backbone"}
# which single-module run each part of the full model is warm-started from (docs/full_model_ablation.md)
_WARM_PARTS = {"backbone": "ggca", "ggca": "ggca", "sff": "sff", "decoder": "sff", "aspp": "aspp"}


def remedy_entries(full: Mapping[str, Any], remedies: Sequence[str], run_path: Any, epochs: int,
                   singles: Mapping[str, str], teacher: str | None = None,
                   pretrained: str = "imagenet") -> list[dict[str, Any]]:
    """The full model once per remedy, each a ``run_experiment`` entry with its ``train`` options.

    Args:
        full: the full model's entry (``combination_entries``).
        remedies: names from :data:`REMEDIES`.
        run_path: run name -> that run's folder with ``{seed}`` in it (``run_experiment`` fills it
            in, so each seed's full model starts from the same seed's single-module runs).
        epochs: the recipe's epochs (the staged remedy unfreezes the modules at half of them).
        singles: module ("ggca", "sff", "aspp") -> the run name of the model with that module alone;
            a part whose single run is not trained is not warm-started (it keeps its own initialisation).
        teacher: the run name of the distillation teacher (the best single module).
        pretrained: the backbone weights of the "pretrained" remedy.

    Raises:
        ValueError: an unknown remedy, or "distill" without a teacher.
    """
    bad = [r for r in remedies if r not in REMEDIES]
    if bad:
        raise ValueError(f"remedies {bad} are unknown; choose from {list(REMEDIES)}")
    options = {
        "warm_start": lambda: {"warm_start": {part: run_path(singles[m]) for part, m in _WARM_PARTS.items()
                                              if m in singles}},
        "zero_gate": lambda: {"zero_gate": True},
        "staged": lambda: {"part_unfreeze_epoch": {m: max(1, epochs // 2) for m in MODULES}},
        "distill": lambda: {"distill_from": run_path(_teacher(teacher)), "distill_weight": 0.5,
                            "distill_temperature": 2.0},
        "pretrained": lambda: {"pretrained": pretrained},
    }
    return [{"name": f"{full['name']}+{r.replace('_', '-')}", "model": full["model"],
             "model_kwargs": dict(full.get("model_kwargs") or {}),
             "label": f"Full + {_REMEDY_LABELS[r]}", "train": options[r]()} for r in remedies]


def _teacher(teacher: str | None) -> str:
    if not teacher:
        raise ValueError("the distill remedy needs a teacher: the run name of the best single module")
    return teacher
