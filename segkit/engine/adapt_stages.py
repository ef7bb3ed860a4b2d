"""`adapt`: the Trans4PASS pinhole -> panoramic workflow, stage by stage, in one folder.

Zhang et al., "Bending Reality: Distortion-aware Transformers for Adapting to Panoramic
Semantic Segmentation", CVPR 2022, https://arxiv.org/abs/2203.01452 (official code:
https://github.com/jamycheung/Trans4PASS, ``adaptations/``). The stages:

1. ``source``: source-only training on the labelled source (``segkit.engine.train`` into
   ``<run_dir>/source/``: the usual run directory, checkpoint chosen on the source's val);
2. ``pseudo_labels``: the source-only model labels the target's training images; per-class
   confidence thresholds turn unconfident pixels into void (``segkit.engine.pseudo_labels``);
   ``<run_dir>/pseudo_labels/<id>.png`` can be opened in any image viewer;
3. ``adaptation``: source CE + pseudo-label CE + MPA feature losses on both domains with an
   EMA prototype memory (``segkit.engine.adapt_train``) into ``<run_dir>/adapted/``;
4. ``evaluation``: the source-only and the adapted models on the target's labelled split
   (``<run_dir>/source_on_target/`` and ``<run_dir>/adapted/``: ``metrics.json``,
   ``per_image_cm.npz`` for paired bootstrap intervals, ``confusion_matrix.csv``).

The target's masks are read only in stage 4: training sees the target through
``segkit.data.UnlabelledImages`` and the pseudo-labels. ``stages.json`` records the run's
fingerprint and each finished stage: a rerun skips finished stages, an interrupted training
stage resumes from its ``checkpoints/last.pt``, and a run whose fingerprint changed (config,
model, data, code) is moved to ``.superseded/`` and started again.

Models: any model whose decoder features MPA can read (``segkit.engine.mpa_features``):
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

from segkit.engine.adapt_config import AdaptConfig
from segkit.engine.config import TrainConfig
from segkit.engine.distributed import resolve_device
from segkit.engine.fingerprint import data_fingerprint, fingerprint_changes
from segkit.rundir import RunDir

__all__ = ["adapt", "AdaptResult", "STAGES", "read_adaptation"]

STAGES = ("source", "pseudo_labels", "adaptation", "evaluation")


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
    from segkit.engine.trainer import plan_run

    cfg = cfg if cfg is not None else TrainConfig()
    if isinstance(model, str):
        cfg = cfg.replace(model=model)  # the config names the model it trains (as segkit.report.ensure_run does)
    acfg = acfg if acfg is not None else AdaptConfig()
    if source_root is None or target_root is None:
        raise ValueError("adapt needs source_root (labelled) and target_root (its test split labelled); got "
                         f"source_root={source_root!r}, target_root={target_root!r}")
    say = log or (lambda _msg: None)
    rd = RunDir(run_dir)
    dev = resolve_device(device or cfg.device)
    common = dict(input_shape=cfg.input_shape, ignore_index=cfg.ignore_index, seed=cfg.seed, pad_label=cfg.pad_label)
    src = _source_datasets(source_root, cfg, common)
    tgt_images = UnlabelledImages(target_root, acfg.target_train_split, cfg.input_shape)
    tgt_test = labelled_dataset(target_root, acfg.target_test_split, num_classes=cfg.num_classes,
                                check_binary=cfg.check_binary, **common)
    fingerprint = json.loads(json.dumps({"source": plan_run(model, cfg, source_root, src), "adapt": acfg.to_dict(),
                                         "target": data_fingerprint({"train_images": tgt_images, "test": tgt_test})}))
    stages = _open_stages(rd, fingerprint, force, say)

    def done(name: str, t0: float, **summary: Any) -> None:
        stages["stages"][name] = {"finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "seconds": round(time.perf_counter() - t0, 2), **summary}
        rd.write_stages(stages)

    # 1. source-only training
    src_rd = rd.sub(RunDir.SOURCE_RUN)
    if "source" not in stages["stages"]:
        t0 = time.perf_counter()
        if src_rd.is_complete() and src_rd.read_fingerprint() != fingerprint["source"]:
            dest = src_rd.supersede()  # another setup's run (a complete identical one is used as it is)
            say(f"[adapt] {src_rd.path} holds another source run; moved to {dest}")
        if src_rd.is_complete():
            say(f"[adapt] stage 1/4 source-only training: using the identical complete run in {src_rd.path}")
        else:
            from segkit.engine.trainer import train

            resume = src_rd.has_last()
            say(f"[adapt] {'resuming' if resume else 'running'} stage 1/4 source-only training -> {src_rd.path}")

            train(model, cfg, data_root=source_root, run_dir=src_rd.path, device=str(dev), resume=resume,
                  progress=progress, verbose=verbose, train_dataset=src[0], val_dataset=src[1], test_dataset=src[2])
        done("source", t0, source_miou=src_rd.read_metrics().get("miou"), split=src_rd.read_metrics().get("split"))
    else:
        say("[adapt] stage 1/4 source-only training: done, skipped")
    config = src_rd.read_config()
    class_names = list(config["data"]["class_names"])
    if tgt_test.num_classes != len(class_names):
        raise ValueError(f"the target {target_root} has {tgt_test.num_classes} classes {tgt_test.class_names} but the "
                         f"source {source_root} has {len(class_names)} {class_names}; both domains need the same classes")

    # 2. pseudo-labels
    if "pseudo_labels" not in stages["stages"]:
        from segkit.engine.pseudo_labels import make_pseudo_labels

        t0 = time.perf_counter()
        say(f"[adapt] running stage 2/4 pseudo-labels for {len(tgt_images)} target images -> {rd.pseudo_label_dir}")
        net = _load(src_rd, model, "best", dev)
        info = make_pseudo_labels(net, tgt_images, rd, cfg.input_shape, class_names, acfg.pseudo_scales,
                                  acfg.pseudo_quantile, acfg.pseudo_max_threshold, dev, cfg.eval_batch_size, progress)
        done("pseudo_labels", t0, kept_fraction=info["kept_fraction"], num_images=len(tgt_images))
    else:
        say("[adapt] stage 2/4 pseudo-labels: done, skipped")

    # 3. adaptation training
    ad_rd = rd.sub(RunDir.ADAPTED_RUN)
    if "adaptation" not in stages["stages"]:
        from segkit.data.domains import PseudoLabelled
        from segkit.engine.adapt_train import train_adaptation

        t0 = time.perf_counter()
        resume = ad_rd.has_last()
        say(f"[adapt] {'resuming' if resume else 'running'} stage 3/4 adaptation training -> {ad_rd.path}")
        net = _load(src_rd, model, "best", dev)
        paths = [rd.pseudo_label(i) for i in tgt_images.ids]
        pseudo = dict(image_paths=tgt_images.image_paths, mask_paths=paths, ids=tgt_images.ids,
                      class_names=class_names, input_shape=cfg.input_shape, ignore_index=cfg.ignore_index,
                      seed=cfg.seed, pad_label=cfg.pad_label)
        plain_src = labelled_dataset(source_root, cfg.train_split, num_classes=cfg.num_classes,
                                     check_binary=cfg.check_binary, **common)
        data_info = {"source_root": str(Path(source_root).resolve()), "root": str(Path(target_root).resolve()),
                     "num_classes": len(class_names), "class_names": class_names, "ignore_index": cfg.ignore_index,
                     "train_split": acfg.target_train_split, "report_split": acfg.target_test_split,
                     "num_train": len(tgt_images), "num_source_train": len(src[0]), "num_test": len(tgt_test)}
        train_adaptation(net, config["model"], cfg, acfg, src[0], PseudoLabelled(augment=cfg.augment, **pseudo),
                         plain_src, PseudoLabelled(augment=False, **pseudo), ad_rd, fingerprint, data_info, dev,
                         progress, verbose)
        history = ad_rd.read_history()
        done("adaptation", t0, epochs=int(len(history)), final_loss=float(history["train_loss"].iloc[-1]))
    else:
        say("[adapt] stage 3/4 adaptation training: done, skipped")

    # 4. evaluation on the target's labelled split
    if "evaluation" not in stages["stages"]:
        t0 = time.perf_counter()
        say(f"[adapt] running stage 4/4 evaluation on the target's {acfg.target_test_split!r} split "
            f"({len(tgt_test)} images)")
        before = _score(_load(src_rd, model, "best", dev), tgt_test, rd.sub(RunDir.SOURCE_ON_TARGET), cfg, dev,
                        progress, checkpoint=f"{RunDir.SOURCE_RUN}/{RunDir.CHECKPOINTS}/best.pt")
        after = _score(_load(ad_rd, model, "best", dev), tgt_test, ad_rd, cfg, dev, progress,
                       checkpoint=f"{RunDir.ADAPTED_RUN}/{RunDir.CHECKPOINTS}/best.pt")
        done("evaluation", t0, source_only_miou=before["miou"], adapted_miou=after["miou"])
        say(f"[adapt] target mIoU: source-only {100 * before['miou']:.2f} -> adapted {100 * after['miou']:.2f}")
    else:
        say("[adapt] stage 4/4 evaluation: done, skipped")
    return read_adaptation(rd.path)


def read_adaptation(run_dir: str | Path) -> AdaptResult:
    """The :class:`AdaptResult` of a finished adaptation run, from its files only.

    Raises:
        FileNotFoundError: the evaluation stage has not finished in `run_dir`.
    """
    rd = RunDir(run_dir)
    stages = rd.read_stages().get("stages", {})
    if "evaluation" not in stages:
        raise FileNotFoundError(f"{rd.path} has no finished evaluation stage (stages done: {sorted(stages) or 'none'});"
                                " run segkit.engine.adapt (or `segkit adapt`) into it")
    return AdaptResult(rd.path, rd.sub(RunDir.SOURCE_ON_TARGET).read_metrics(), rd.sub(RunDir.ADAPTED_RUN).read_metrics(),
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


def _load(run: RunDir, model: Any, checkpoint: str, device: torch.device) -> nn.Module:
    """The run's model with `checkpoint`'s weights (into `model` when it is an ``nn.Module``)."""
    from segkit.engine.trainer import load_run

    return load_run(run.path, model=model if isinstance(model, nn.Module) else None, checkpoint=checkpoint,
                    device=str(device)).model


def _score(net: nn.Module, dataset: Any, out: RunDir, cfg: TrainConfig, device: torch.device, progress: bool,
           checkpoint: str) -> dict[str, Any]:
    """Evaluate `net` on the target's labelled split; write metrics.json, per_image_cm.npz, confusion_matrix.csv."""
    from segkit.engine.evaluate import evaluate_confusion

    per_image: list[np.ndarray] = []
    cm = evaluate_confusion(net, dataset, device=device, input_shape=cfg.input_shape, batch_size=cfg.eval_batch_size,
                            ignore_index=cfg.ignore_index, absent=cfg.absent, progress=progress, per_image=per_image)
    m = cm.compute()
    payload = {**m.as_dict(), "checkpoint": checkpoint, "split": dataset.split, "domain": "target",
               "num_images": len(per_image), "input_shape": list(cfg.input_shape)}
    out.path.mkdir(parents=True, exist_ok=True)
    k = m.num_classes
    out.write_per_image(np.stack(per_image) if per_image else np.zeros((0, k, k)), [str(i) for i in dataset.ids],
                        dataset.split)
    out.write_confusion(m.hist, list(m.class_names))
    out.write_metrics(payload)
    return payload
