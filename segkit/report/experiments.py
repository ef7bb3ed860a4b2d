"""Read an experiment (a list of model variants, one run directory per seed) back as one table.

A notebook describes an experiment as a list of entries, each either a registry name
(``"improved-mobilenetv2"``) or a mapping::

    {"name": "resnet18", "label": "ResNet18", "model": "deeplabv3plus",
     "model_kwargs": {"backbone": "timm:resnet18"}}

An entry may also change the recipe for its own runs, e.g. ``"train": {"ema_decay": 0.9}``
(``TrainConfig`` keys; the experiment's config is the base). ``{seed}`` in a text value of it is
the run's seed, so a run can name the same seed's run of another entry, e.g. a warm start
``{"warm_start": {"sff": "runs/.../sff2/seed{seed}"}}``.

``segkit.experiments.run_experiment`` trains every entry into ``<runs_dir>/<experiment>/<name>/``
and returns :func:`experiment_results`: the runs as a paper-style table. Everything it returns
can be rebuilt from the run directories alone (``collect_runs``), which is what notebook 06 does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from segkit._moved import moved_names
from segkit.report.compare import CLAIM_METRICS
from segkit.report.runs import collect_runs, results_table

__all__ = ["ModelEntry", "parse_entries", "ExperimentResults", "experiment_results", "experiment_table",
           "sff_group_table"]

# the write side moved to segkit.experiments.grid; found there on first use (the report never trains)
__getattr__ = moved_names(__name__, dict.fromkeys(("ensure_bench", "run_experiment", "train_config"),
                                                  "segkit.experiments.grid"))


@dataclass
class ModelEntry:
    """One variant of an experiment: run name, display label, registry model and its arguments, the
    ``TrainConfig`` keys it changes (``train``) and, when it trains on fewer seeds than the
    experiment, its own ``seeds`` (a baseline on three seeds beside a variant on two)."""

    name: str
    model: str
    label: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] | None = None


def parse_entries(entries: Iterable[str | Mapping[str, Any]]) -> list[ModelEntry]:
    """Normalise notebook model lists (names or mappings) to ``ModelEntry`` objects.

    Raises:
        ValueError: an entry without a model, an unknown key, or a duplicate run name.
    """
    out: list[ModelEntry] = []
    allowed = {"name", "model", "label", "model_kwargs", "train", "seeds"}
    for e in entries:
        if isinstance(e, str):
            out.append(ModelEntry(name=e, model=e, label=e))
            continue
        if not isinstance(e, Mapping):
            raise ValueError(f"model entry {e!r} must be a registry name or a mapping with 'model'.")
        extra = set(e) - allowed
        if extra:
            raise ValueError(f"model entry {dict(e)!r} has unknown keys {sorted(extra)}; allowed: {sorted(allowed)}.")
        if "model" not in e and "name" not in e:
            raise ValueError(f"model entry {dict(e)!r} needs 'model' (a registry name).")
        model = str(e.get("model", e.get("name")))
        name = str(e.get("name", model))
        seeds = e.get("seeds")
        if seeds is not None and (not isinstance(seeds, (list, tuple)) or not seeds
                                  or not all(isinstance(x, int) for x in seeds)):
            raise ValueError(f"model entry {dict(e)!r}: 'seeds' must be a non-empty list of integers, e.g. [0, 1].")
        out.append(ModelEntry(name=name, model=model, label=str(e.get("label", name)),
                              model_kwargs=dict(e.get("model_kwargs") or {}), train=dict(e.get("train") or {}),
                              seeds=[int(x) for x in seeds] if seeds is not None else None))
    names = [x.name for x in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"model entries repeat the run names {dup}; give each a distinct 'name'.")
    return out


@dataclass
class ExperimentResults:
    """An experiment's runs, its table (mean ± std over seeds) and differences from the baseline.

    Attributes:
        runs: one row per seed run (``collect_runs`` columns).
        table: one row per entry: metrics (mean, ``"<col> std"``), FPS, size, ``n`` and, with a
            baseline, ``ΔmIoU`` and its 95 % intervals over seeds and over test images.
        differences: ``segkit.report.stats.Difference`` per non-baseline entry.
        baseline: the baseline's display label (None: no differences).
        class_differences: per non-background class IoU, one per model and class.
        labels: run name -> display label, in entry order.
        baseline_name: the baseline's run name.
    """

    runs: pd.DataFrame
    table: pd.DataFrame
    differences: list[Any]
    baseline: str | None
    class_differences: list[Any] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    baseline_name: str | None = None

    def caption(self, title: str) -> str:
        """`title` plus the setup (data, size, epochs, seeds, image counts, scored split)."""
        from segkit.report.compare import setup_caption

        return setup_caption(title, self.runs, self.baseline)

    def paragraphs(self, what: str, speed: bool = True, claims: Sequence[str] = (),
                   about_claim: bool = True) -> dict[str, str]:
        """English and Chinese paragraphs that claim only the supported differences.

        `claims` (keys of ``compare.CLAIM_METRICS``: "small_target", "edge") adds whether each of
        the paper's claims holds for every entry against the baseline (:meth:`claims_paragraphs`;
        `about_claim` False: the entries differ in something the claims are not about).
        """
        from segkit.report.text import class_paragraph, comparison_paragraph, join_paragraphs

        cols = {} if speed else {"fps_col": None, "params_col": None}
        langs = ("en", "zh")
        return join_paragraphs(
            {k: comparison_paragraph(self.table, self.differences, self.baseline, lang=k, what=what, **cols)
             for k in langs},
            {k: class_paragraph(self.class_differences, lang=k) for k in langs},
            self.claims_paragraphs(claims, about_claim) if claims else {})

    def claim_differences(self, claims: Sequence[str] = tuple(CLAIM_METRICS)) -> list[Any]:
        """``compare.claim_differences`` of every entry but the baseline against it, in entry order.

        Raises:
            ValueError: no baseline, or an unknown claim.
        """
        from segkit.report.compare import claim_differences

        if self.baseline_name is None:
            raise ValueError("these results have no baseline; give experiment_results a baseline to test claims")
        names = [n for n in dict.fromkeys(self.runs["name"]) if n != self.baseline_name]
        names.sort(key=lambda n: list(self.labels).index(n) if n in self.labels else len(self.labels))
        return [d for n in names for d in claim_differences(self.runs, n, self.baseline_name, self.labels, claims)]

    def claims_paragraphs(self, claims: Sequence[str] = tuple(CLAIM_METRICS),
                          about_claim: bool = True) -> dict[str, str]:
        """English and Chinese sentences (``text.claims_paragraph``): whether each claim in `claims`
        holds for every entry against the baseline, judged by both 95 % intervals (`about_claim`
        False: only how each claim's metric differs, for entries the claims are not about)."""
        from segkit.report.text import claims_paragraph

        diffs = self.claim_differences(claims)
        return {k: claims_paragraph(diffs, lang=k, about_claim=about_claim) for k in ("en", "zh")}


def experiment_results(runs_dir: str | Path, experiment: str,
                       entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]],
                       baseline: str | None = None, seeds: Sequence[int] | None = None,
                       columns: Sequence[str] = ("miou", "f1", "fps", "params_m", "gflops"),
                       name_header: str = "Model", metrics: Sequence[str] = ()) -> ExperimentResults:
    """:class:`ExperimentResults` of `entries`, read from their run directories only.

    `baseline` is an entry name or label; `seeds` (default: all found) restricts the runs;
    `metrics` adds columns beyond the confusion matrix (``results_table``: "boundary", "objects",
    "claims").
    """
    from segkit.report.compare import baseline_differences, class_differences, with_differences

    parsed = _as_entries(entries)
    runs = collect_runs(runs_dir, [experiment])
    runs = runs[runs["name"].isin([e.name for e in parsed])]
    if seeds is not None:
        runs = runs[runs["seed"].isin(list(seeds))]
    if runs.empty:
        raise FileNotFoundError(f"no complete runs of {[e.name for e in parsed]} in {Path(runs_dir) / experiment}; "
                                "run the training notebook first.")
    labels = {e.name: e.label for e in parsed}
    table = results_table(runs, labels=labels, columns=columns, name_header=name_header,
                          order=[e.name for e in parsed], metrics=metrics)
    base = next((e for e in parsed if baseline in (e.name, e.label)), None) if baseline else None
    if baseline and base is None:
        raise ValueError(f"baseline {baseline!r} is not an entry; entries are {[e.label for e in parsed]}")
    diffs = baseline_differences(runs, base.name, labels) if base is not None else []
    per_class = class_differences(runs, base.name, labels) if base is not None else []
    return ExperimentResults(runs, with_differences(table, diffs, name_header), diffs,
                             base.label if base is not None else None, per_class, labels,
                             base.name if base is not None else None)


def _as_entries(entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]] | None) -> list[ModelEntry]:
    items = list(entries or [])
    return items if items and isinstance(items[0], ModelEntry) else parse_entries(items)


def experiment_table(runs_dir: str | Path, experiment: str,
                     entries: Sequence[ModelEntry] | Iterable[str | Mapping[str, Any]] | None = None,
                     columns: Sequence[str] = ("miou", "f1", "fps", "params_m", "gflops"),
                     name_header: str = "Model", metrics: Sequence[str] = ()) -> pd.DataFrame:
    """The table of one experiment (mean ± std over seeds, ``n``), read from its run directories only.

    ``entries`` (optional) fix the row order and the display labels; runs not listed follow;
    ``metrics`` adds columns beyond the confusion matrix (see ``results_table``).
    """
    runs = collect_runs(runs_dir, [experiment])
    if runs.empty:
        raise FileNotFoundError(f"no complete runs in {Path(runs_dir) / experiment}; run the training notebook first.")
    parsed = _as_entries(entries)
    if parsed:
        runs = runs[runs["name"].isin([e.name for e in parsed])]
    labels = {e.name: e.label for e in parsed}
    return results_table(runs, labels=labels, columns=columns, name_header=name_header,
                         order=[e.name for e in parsed] or None, metrics=metrics)


def sff_group_table(runs_dir: str | Path, experiment: str, entries: Iterable[str | Mapping[str, Any]],
                    group_col: str = "Groups", metrics: Sequence[str] = ()) -> pd.DataFrame:
    """The SFF channel-selection table (paper Table 2 layout) from run directories.

    Channel counts are read from each run's model (``model.fusion.in_channels`` and
    ``out_channels``), accuracy and speed from its ``metrics.json`` / ``bench.json``; `metrics`
    adds columns beyond the confusion matrix (``results_table``; "boundary" for the edge claim).
    """
    from segkit.models import build_model

    parsed = parse_entries(entries)
    base = experiment_table(runs_dir, experiment, parsed, columns=("miou", "f1", "fps", "params_m"), metrics=metrics)
    rows = []
    for i, e in enumerate(parsed):
        model = build_model(e.model, num_classes=2, **e.model_kwargs)
        fusion = getattr(model, "fusion", None)
        if fusion is None:
            raise ValueError(f"{e.model!r} has no shallow-fusion module (model.fusion); use an '-sffN' preset.")
        in1, in2 = fusion.in_channels
        rows.append({group_col: e.label, "F1 channels": int(in1), "F2 channels": int(in2),
                     "Out channels": int(fusion.out_channels)})
    chan = pd.DataFrame(rows)
    return pd.concat([chan, base.drop(columns=["Model"])], axis=1)
