"""`adapt`: the Trans4PASS pinhole -> panoramic workflow, stage by stage, in one folder.

Zhang et al., "Bending Reality: Distortion-aware Transformers for Adapting to Panoramic
Semantic Segmentation", CVPR 2022, https://arxiv.org/abs/2203.01452 (official code:
https://github.com/jamycheung/Trans4PASS, ``adaptations/``). The stages:

1. ``source``: source-only training on the labelled source (``segkit.engine.train`` into
   ``<run_dir>/source/``: the usual run directory, checkpoint chosen on the source's val);
2. ``pseudo_labels``: the source-only model labels the target's training images; per-class
   confidence thresholds turn unconfident pixels into void (``segkit.adapt.pseudo_labels``);
   ``<run_dir>/pseudo_labels/<id>.png`` can be opened in any image viewer;
3. ``adaptation``: source CE + pseudo-label CE + MPA feature losses on both domains with an
   EMA prototype memory (``segkit.adapt.train``) into ``<run_dir>/adapted/``;
4. ``evaluation``: the source-only and the adapted models on the target's labelled split
   (``<run_dir>/source_on_target/`` and ``<run_dir>/adapted/``: ``metrics.json``,
   ``per_image_cm.npz`` for paired bootstrap intervals, ``confusion_matrix.csv``).

The target's masks are read only in stage 4: training sees the target through
``segkit.data.UnlabelledImages`` and the pseudo-labels. ``stages.json`` records the run's
fingerprint and each finished stage: a rerun skips finished stages, an interrupted training
stage resumes from its ``checkpoints/last.pt``, and a run whose fingerprint changed (config,
model, data, code) is moved to ``.superseded/`` and started again.

Models: any model whose decoder features MPA can read (``segkit.adapt.features``):
Trans4PASS (``forward_features``), DeepLabV3+ and every model with a ``cam_layers["decoder"]``
role, or any model with ``AdaptConfig.feature_layer`` set.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from segkit.adapt.config import AdaptConfig
from segkit.training.config import TrainConfig
from segkit.runtime.distributed import resolve_device
from segkit.runs.fingerprint import data_fingerprint, fingerprint_changes
from segkit.runs import RunDir

__all__ = ["adapt", "AdaptResult", "STAGES", "read_adaptation"]

STAGES = ("source", "pseudo_labels", "adaptation", "evaluation")
_TITLES = ("source-only training", "pseudo-labels", "adaptation training", "evaluation")


@dataclass
class AdaptResult:
    """What :func:`adapt` returns (all of it is also in the run directory).

    Attributes:
        run_dir: the adaptation run's folder.
        source_only, adapted: ``metrics.json`` of both models on the target's labelled split.
        thresholds: the pseudo-label ``thresholds.json``.
        stages: ``stages.json``'s stage records (seconds, summary per stage).
    """

    run_dir: Path
    source_only: dict[str, Any]
    adapted: dict[str, Any]
    thresholds: dict[str, Any]
    stages: dict[str, Any] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        """Adapted minus source-only target mIoU, in percent points."""
        return 100.0 * (float(self.adapted["miou"]) - float(self.source_only["miou"]))


def source_config(cfg: TrainConfig) -> TrainConfig:
    """The source stage's recipe: both stages train and score on letterboxed images, so the
    source stage does too (no crops). A source run shared from elsewhere must match it."""
    return cfg.replace(train_crop=False) if cfg.train_crop else cfg


def adapt(
    model: nn.Module | str | None = None,
    cfg: TrainConfig | None = None,
    acfg: AdaptConfig | None = None,
    source_root: str | Path | None = None,
    target_root: str | Path | None = None,
    run_dir: str | Path = "runs/adapt/run",
    *,
    device: str | None = None,
    force: bool = False,
    progress: bool = True,
    verbose: bool = True,
    log: Callable[[str], Any] | None = print,
) -> AdaptResult:
    """Run (or continue) the four adaptation stages into `run_dir`.

    Args:
        model: a registered model name, an ``nn.Module`` or None (``cfg.model``).
        cfg: the source recipe (``TrainConfig``; default ``TrainConfig()``).
        acfg: adaptation settings (default ``AdaptConfig()``: the official values).
        source_root: labelled source, VOC or Cityscapes layout (splits ``cfg.train_split``,
            ``cfg.val_split``, ``cfg.test_split``).
        target_root: target, VOC or Cityscapes/DensePASS layout: ``acfg.target_train_split``
            (images only are used) and the labelled ``acfg.target_test_split``.
        run_dir: output folder (see the module docstring).
        device: overrides ``cfg.device``.
        force: start again even when the stages recorded match.
        progress, verbose: tqdm bars and per-epoch lines.
        log: one line per stage (ran, skipped, resumed); None is silent.

    Returns:
        :class:`AdaptResult`.
    """
    from segkit.data.domains import UnlabelledImages, labelled_dataset
    from segkit.training.trainer import plan_run

    cfg = cfg if cfg is not None else TrainConfig()
    if isinstance(model, str):
        cfg = cfg.replace(model=model)  # the config names the model it trains (as segkit.report.ensure_run does)
    cfg = source_config(cfg)
    acfg = acfg if acfg is not None else AdaptConfig()
    if source_root is None or target_root is None:
        raise ValueError("adapt needs source_root (labelled) and target_root (its test split labelled); got "
                         f"source_root={source_root!r}, target_root={target_root!r}")
    common = dict(input_shape=cfg.input_shape, ignore_index=cfg.ignore_index, seed=cfg.seed, pad_label=cfg.pad_label)
    src = _source_datasets(source_root, cfg, common)
    tgt_images = UnlabelledImages(target_root, acfg.target_train_split, cfg.input_shape)
    tgt_test = labelled_dataset(target_root, acfg.target_test_split, num_classes=cfg.num_classes,
                                check_binary=cfg.check_binary, **common)
    fingerprint = json.loads(json.dumps({"source": plan_run(model, cfg, source_root, src), "adapt": acfg.to_dict(),
                                         "target": data_fingerprint({"train_images": tgt_images, "test": tgt_test})}))
    say = log or (lambda _msg: None)
    rd = RunDir(run_dir)
    run = _Stages(model, cfg, acfg, Path(source_root), Path(target_root), rd, resolve_device(device or cfg.device),
                  src, tgt_images, tgt_test, fingerprint, _open_stages(rd, fingerprint, force, say), say, progress,
                  verbose)
    steps = (run.source, run.pseudo_labels, run.adaptation, run.evaluation)
    for i, (name, title, stage) in enumerate(zip(STAGES, _TITLES, steps)):
        if name in run.record["stages"]:
            say(f"[adapt] stage {i + 1}/4 {title}: done, skipped")
            continue
        t0 = time.perf_counter()
        summary = stage(f"stage {i + 1}/4 {title}")
        run.record["stages"][name] = {"finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                      "seconds": round(time.perf_counter() - t0, 2), **summary}
        rd.write_stages(run.record)
    return read_adaptation(rd.path)


@dataclass
class _Stages:
    """The inputs every stage reads, and one method per stage returning its summary for ``stages.json``."""

    model: Any
    cfg: TrainConfig
    acfg: AdaptConfig
    source_root: Path
    target_root: Path
    rd: RunDir
    device: torch.device
    source_datasets: tuple[Any, Any, Any]
    target_images: Any
    target_test: Any
    fingerprint: dict[str, Any]
    record: dict[str, Any]
    say: Callable[[str], Any]
    progress: bool
    verbose: bool

    @property
    def source_run(self) -> RunDir:
        return self.rd.sub(RunDir.SOURCE_RUN)

    @property
    def adapted_run(self) -> RunDir:
        return self.rd.sub(RunDir.ADAPTED_RUN)

    def precision(self, net: nn.Module) -> Any:
        """The recipe's precision and memory format resolved for `net` on this device."""
        from segkit.runtime.precision import resolve_precision

        return resolve_precision(self.cfg.precision, self.cfg.channels_last, self.device, net)

    def class_names(self) -> list[str]:
        """The source run's classes; the target must have as many."""
        names = list(self.source_run.read_config()["data"]["class_names"])
        if self.target_test.num_classes != len(names):
            raise ValueError(f"the target {self.target_root} has {self.target_test.num_classes} classes "
                             f"{self.target_test.class_names} but the source {self.source_root} has {len(names)} "
                             f"{names}; both domains need the same classes")
        return names

    def source(self, title: str) -> dict[str, Any]:
        """Source-only training (an identical complete run already in ``source/`` is used as it is)."""
        run = self.source_run
        if run.is_complete() and run.read_fingerprint() != self.fingerprint["source"]:
            dest = run.supersede()
            self.say(f"[adapt] {run.path} holds another source run; moved to {dest}")
        if run.is_complete():
            self.say(f"[adapt] {title}: using the identical complete run in {run.path}")
        else:
            from segkit.training.trainer import train

            resume = run.has_last()
            self.say(f"[adapt] {'resuming' if resume else 'running'} {title} -> {run.path}")
            train(self.model, self.cfg, data_root=self.source_root, run_dir=run.path, device=str(self.device),
                  resume=resume, progress=self.progress, verbose=self.verbose, train_dataset=self.source_datasets[0],
                  val_dataset=self.source_datasets[1], test_dataset=self.source_datasets[2])
        metrics = run.read_metrics()
        return {"source_miou": metrics.get("miou"), "split": metrics.get("split")}

    def pseudo_labels(self, title: str) -> dict[str, Any]:
        from segkit.adapt.pseudo_labels import make_pseudo_labels

        names, a = self.class_names(), self.acfg
        self.say(f"[adapt] running {title} for {len(self.target_images)} target images -> {self.rd.pseudo_label_dir}")
        net = _load(self.source_run, self.model, self.device)
        info = make_pseudo_labels(net, self.target_images, self.rd, self.cfg.input_shape, names, a.pseudo_scales,
                                  a.pseudo_quantile, a.pseudo_max_threshold, self.device, self.cfg.eval_batch_size,
                                  self.progress, self.precision(net))
        return {"kept_fraction": info["kept_fraction"], "num_images": len(self.target_images)}

    def adaptation(self, title: str) -> dict[str, Any]:
        from segkit.data.domains import PseudoLabelled, labelled_dataset
        from segkit.adapt.train import train_adaptation

        cfg, names, imgs, run = self.cfg, self.class_names(), self.target_images, self.adapted_run
        self.say(f"[adapt] {'resuming' if run.has_last() else 'running'} {title} -> {run.path}")
        pseudo = dict(image_paths=imgs.image_paths, mask_paths=[self.rd.pseudo_label(i) for i in imgs.ids],
                      ids=imgs.ids, class_names=names, input_shape=cfg.input_shape, ignore_index=cfg.ignore_index,
                      seed=cfg.seed, pad_label=cfg.pad_label)
        plain_source = labelled_dataset(self.source_root, cfg.train_split, cfg.input_shape, num_classes=cfg.num_classes,
                                        ignore_index=cfg.ignore_index, seed=cfg.seed, pad_label=cfg.pad_label,
                                        check_binary=cfg.check_binary)
        data_info = {"source_root": str(self.source_root.resolve()), "root": str(self.target_root.resolve()),
                     "num_classes": len(names), "class_names": names, "ignore_index": cfg.ignore_index,
                     "train_split": self.acfg.target_train_split, "report_split": self.acfg.target_test_split,
                     "num_train": len(imgs), "num_source_train": len(self.source_datasets[0]),
                     "num_test": len(self.target_test)}
        train_adaptation(_load(self.source_run, self.model, self.device), self.source_run.read_config()["model"], cfg,
                         self.acfg, self.source_datasets[0], PseudoLabelled(augment=cfg.augment, **pseudo),
                         plain_source, PseudoLabelled(augment=False, **pseudo), run, self.fingerprint, data_info,
                         self.device, self.progress, self.verbose)
        history = run.read_history()
        return {"epochs": int(len(history)), "final_loss": float(history["train_loss"].iloc[-1])}

    def evaluation(self, title: str) -> dict[str, Any]:
        """Both models on the target's labelled split (the only place its masks are read)."""
        self.say(f"[adapt] running {title} on the target's {self.acfg.target_test_split!r} split "
                 f"({len(self.target_test)} images)")
        scores = []
        for run, out in ((self.source_run, self.rd.sub(RunDir.SOURCE_ON_TARGET)), (self.adapted_run, self.adapted_run)):
            net = _load(run, self.model, self.device)
            scores.append(_score(net, self.target_test, out, self.cfg, self.device, self.progress,
                                 str(run.checkpoint("best").relative_to(self.rd.path)), self.precision(net)))
        self.say(f"[adapt] target mIoU: source-only {100 * scores[0]['miou']:.2f} -> adapted "
                 f"{100 * scores[1]['miou']:.2f}")
        return {"source_only_miou": scores[0]["miou"], "adapted_miou": scores[1]["miou"]}


def read_adaptation(run_dir: str | Path) -> AdaptResult:
    """The :class:`AdaptResult` of a finished adaptation run, from its files only.

    Raises:
        FileNotFoundError: the evaluation stage has not finished in `run_dir`.
    """
    rd = RunDir(run_dir)
    stages = rd.read_stages().get("stages", {})
    if "evaluation" not in stages:
        raise FileNotFoundError(f"{rd.path} has no finished evaluation stage (stages done: {sorted(stages) or 'none'});"
                                " run segkit.adapt.adapt (or `segkit adapt`) into it")
    return AdaptResult(rd.path, rd.sub(RunDir.SOURCE_ON_TARGET).read_metrics(),
                       rd.sub(RunDir.ADAPTED_RUN).read_metrics(),
                       rd.read_thresholds(), stages)


# ----------------------------------------------------------------------------- helpers
def _source_datasets(root: Any, cfg: TrainConfig, common: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(train (augmented), val, test-or-None) of the labelled source, VOC or Cityscapes layout."""
    from segkit.data.domains import has_split, labelled_dataset

    kw = dict(num_classes=cfg.num_classes, check_binary=cfg.check_binary, **common)
    train = labelled_dataset(root, cfg.train_split, augment=cfg.augment, **kw)
    val = labelled_dataset(root, cfg.val_split, **kw)
    test = labelled_dataset(root, cfg.test_split, **kw) if cfg.test_split and has_split(root, cfg.test_split) else None
    return train, val, test


def _open_stages(rd: RunDir, fingerprint: dict[str, Any], force: bool, say: Callable[[str], Any]) -> dict[str, Any]:
    """The stage record of `rd`; a run with another fingerprint (or `force`) is moved aside first.

    A folder without ``stages.json`` is used as it is: a complete source run placed in
    ``source/`` beforehand (e.g. an identical run linked by ``segkit.report.ensure_run``) is
    kept when its fingerprint matches.
    """
    old = rd.read_stages()
    if (old and old.get("fingerprint") != fingerprint) or (force and rd.path.is_dir() and any(rd.path.iterdir())):
        why = ["force=True"] if force else _changes(old.get("fingerprint"), fingerprint)
        dest = rd.supersede()
        say(f"[adapt] starting {rd.path} again: {'; '.join(why)} (the previous run is kept in {dest})")
        old = {}
    if not old:
        rd.path.mkdir(parents=True, exist_ok=True)
        old = {"fingerprint": fingerprint, "stages": {}}
        rd.write_stages(old)
    return old


def _changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if not old:
        return ["the folder holds no stages.json of this fingerprint"]
    out = [f"source: {c}" for c in fingerprint_changes(old.get("source"), new["source"])]
    a, b = old.get("adapt", {}), new["adapt"]
    out += [f"adapt.{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("target") != new["target"]:
        out.append("target data changed")
    return out or ["fingerprint changed"]


def _load(run: RunDir, model: Any, device: torch.device) -> nn.Module:
    """The run's model with its ``best.pt`` weights (loaded into `model` when it is an ``nn.Module``)."""
    from segkit.training.from_runs import load_run

    return load_run(run.path, model=model if isinstance(model, nn.Module) else None, checkpoint="best",
                    device=str(device)).model


def _score(net: nn.Module, dataset: Any, out: RunDir, cfg: TrainConfig, device: torch.device, progress: bool,
           checkpoint: str, precision: Any = "auto") -> dict[str, Any]:
    """Evaluate `net` on the target's labelled split; write metrics.json, per_image_cm.npz, confusion_matrix.csv."""
    from dataclasses import replace

    from segkit.inference.evaluate import evaluate_confusion, extra_metrics_for

    per_image: list[np.ndarray] = []
    extra = extra_metrics_for(net, dataset, ignore_index=cfg.ignore_index, per_image=True)
    cm = evaluate_confusion(net, dataset, device=device, input_shape=cfg.input_shape, batch_size=cfg.eval_batch_size,
                            ignore_index=cfg.ignore_index, absent=cfg.absent, progress=progress, per_image=per_image,
                            precision=precision, extra=extra)
    m = replace(cm.compute(), **extra.compute())
    payload = {**m.as_dict(), "checkpoint": checkpoint, "split": dataset.split, "domain": "target",
               "num_images": len(per_image), "input_shape": list(cfg.input_shape),
               "precision": precision.to_dict() if hasattr(precision, "to_dict") else precision}
    out.path.mkdir(parents=True, exist_ok=True)
    k = m.num_classes
    out.write_per_image(np.stack(per_image) if per_image else np.zeros((0, k, k)), [str(i) for i in dataset.ids],
                        dataset.split, extra=extra.per_image_arrays())
    out.write_confusion(m.hist, list(m.class_names))
    out.write_metrics(payload)
    return payload
