"""The parts of a training run before its first step: datasets, class weights, the model
(built by name or given), its initial weights, and its placement (device, precision,
SyncBatchNorm, DDP)."""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from segkit.training.config import TrainConfig
from segkit.runtime.distributed import DistInfo
from segkit.runs.fingerprint import data_fingerprint, run_fingerprint
from segkit.runtime.precision import Precision, resolve_precision

__all__ = ["run_datasets", "auto_class_weights", "resolve_class_weights", "build_run_model", "named_config", "init_weights",
           "place_model", "fingerprint_of", "set_backbone_trainable", "set_parts_trainable"]


def run_datasets(cfg: TrainConfig, data_root: Any, given: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """(train, val, test-or-None): the given datasets, else VOC splits of `data_root`."""
    train_ds, val_ds, test_ds = given
    if train_ds is not None and val_ds is not None:
        return train_ds, val_ds, test_ds
    if data_root is None:
        raise ValueError("data_root is None: pass the VOC-layout dataset folder (or train_dataset=/val_dataset=)")
    from segkit.data import VOCSegmentation
    from segkit.data.files import resolve_voc_root

    common = dict(input_shape=tuple(cfg.input_shape), num_classes=cfg.num_classes, ignore_index=cfg.ignore_index,
                  seed=cfg.seed, pad_label=cfg.pad_label, check_binary=cfg.check_binary)
    train_ds = train_ds or VOCSegmentation(data_root, split=cfg.train_split, augment=cfg.augment, **common)
    val_ds = val_ds or VOCSegmentation(data_root, split=cfg.val_split, augment=False, **common)
    lists = resolve_voc_root(data_root) / "ImageSets" / "Segmentation"
    if test_ds is None and cfg.test_split and (lists / f"{cfg.test_split}.txt").is_file():
        test_ds = VOCSegmentation(data_root, split=cfg.test_split, augment=False, **common)
    for ds in (train_ds, val_ds, test_ds):
        _refuse_duplicate_ids(ds)
    return train_ds, val_ds, test_ds


def _refuse_duplicate_ids(ds: Any) -> None:
    """A name listed twice in a split file trains (or scores) that image twice: refuse it."""
    from segkit.data.files import DatasetError, duplicate_names

    if not isinstance(getattr(ds, "ids", None), list) or not hasattr(ds, "voc_root"):
        return
    dup = duplicate_names(ds.ids)
    if dup:
        path = ds.voc_root / "ImageSets" / "Segmentation" / f"{ds.split}.txt"
        names = sorted({d[0] for d in dup})
        raise DatasetError(f"{path} lists {names[0]!r} more than once ({len(dup)} repeated line(s)"
                           + (f", names {names[:5]}" if len(names) > 1 else "") + "), which would weight those "
                           "images twice; remove the repeated lines")


def auto_class_weights(dataset: Any, num_classes: int, ignore_index: int = 255, power: float = 0.25,
                       max_weight: float = 10.0) -> list[float]:
    """Loss weights from the class pixel frequencies of a dataset's masks: ``(f_max / f_c) ** power``.

    The fourth root (``power=0.25``) lifts rare classes without the false-positive flood of
    full inverse-frequency weighting: on the synthetic wire ropes (background ~99 %,
    corrosion ~0.8 %, broken wire ~0.3 %) it gives about ``[1, 3.3, 4.3]``. Weights are capped
    at ``max_weight``; classes with no pixels get 1. Reads every mask once (``mask_paths``
    of a ``VOCSegmentation``, else ``dataset[i][1]``).
    """
    from segkit.data.rare import image_class_counts

    counts = image_class_counts(dataset, num_classes, ignore_index).sum(0)
    if counts.sum() == 0:
        raise ValueError("cls_weights='auto': the training masks hold no labelled pixel; check the dataset")
    present = counts > 0
    w = np.ones(num_classes)
    w[present] = np.minimum((counts.max() / counts[present]) ** power, max_weight)
    return [float(v) for v in w]


def resolve_class_weights(cfg: TrainConfig, train_ds: Any, class_names: list[str],
                          say: Callable[..., None]) -> TrainConfig:
    """`cfg` with ``cls_weights='auto'`` replaced by the measured weights; a wrong length is an error."""
    num_classes = len(class_names)
    if cfg.cls_weights == "auto":
        cfg = dataclasses.replace(cfg, cls_weights=auto_class_weights(train_ds, num_classes, cfg.ignore_index))
        say(f"[segkit] cls_weights='auto' -> {[round(w, 3) for w in cfg.cls_weights]} (from the training masks)")
    if cfg.cls_weights is not None and len(cfg.cls_weights) != num_classes:
        raise ValueError(f"cls_weights={cfg.cls_weights} has {len(cfg.cls_weights)} entries but the data has "
                         f"{num_classes} classes {class_names}; give one weight per class or None")
    return cfg


def named_config(model: Any, cfg: TrainConfig) -> TrainConfig:
    """`cfg` with ``model`` naming the network that trains (a registry name given, or the one a
    ready module was built from), so ``config.yaml`` and the fingerprint never record the
    profile's default model for another network. A custom module keeps ``cfg.model``; its
    ``model:`` record in ``config.yaml`` says it is custom."""
    if isinstance(model, str):
        name = model
    else:
        spec = getattr(model, "segkit_spec", None)
        name = spec.get("name") if isinstance(spec, dict) else None
    return cfg.replace(model=name) if name and name != cfg.model else cfg


def build_run_model(model: Any, cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model when given by name; return it with its spec (``model.segkit_spec``: name,
    kwargs, pretrained source, stitches), which load_run rebuilds from."""
    from segkit.models import build_model, model_info
    from segkit.models._spec import spec_as_data, spec_problem

    if model is None or isinstance(model, str):
        name = model or cfg.model
        kwargs = dict(cfg.model_kwargs)
        params = inspect.signature(model_info(name).factory).parameters
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs.setdefault("num_classes", num_classes)
        if cfg.backbone:  # one backbone value for the whole config
            kwargs.setdefault("backbone", cfg.backbone)
        if "downsample_factor" in params or (var_kw and cfg.downsample_factor != 16):
            kwargs.setdefault("downsample_factor", cfg.downsample_factor)
        if cfg.pretrained:
            if "pretrained" not in params and not var_kw:
                raise ValueError(f"TrainConfig.pretrained={cfg.pretrained!r}: model {name!r} loads no pretrained "
                                 "weights; name one that does with --model (the DeepLab family does, e.g. "
                                 "deeplabv3plus-mobilenetv2) or leave pretrained unset")
            kwargs.setdefault("pretrained", cfg.pretrained)
        if cfg.zero_gate:
            if "zero_gate" not in params:
                raise ValueError(f"TrainConfig.zero_gate=True: model {name!r} has no zero_gate argument (the DeepLab "
                                 "family has); set zero_gate=False or gate stitched modules with --insert PATH=NAME:gated")
            kwargs.setdefault("zero_gate", True)
        net = build_model(name, **kwargs)
        return net, {**spec_as_data(net.segkit_spec), "built_by": "segkit.train"}
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, a registered model name or None, got {type(model).__name__}")
    if cfg.pretrained:
        raise ValueError(f"TrainConfig.pretrained={cfg.pretrained!r} applies when train() builds the model by name; "
                         "for a model you pass, build it with segkit.build_model(..., pretrained=...) instead")
    if cfg.zero_gate:
        raise ValueError("TrainConfig.zero_gate=True applies when train() builds the model by name; for a model you "
                         "pass, build it with segkit.build_model(..., zero_gate=True) instead")
    spec = getattr(model, "segkit_spec", None)  # set by build_model, extended by stitch.insert
    cls = type(model)
    out: dict[str, Any] = {"name": None, "kwargs": {}, "class": f"{cls.__module__}.{cls.__qualname__}"}
    problem = spec_problem(spec)
    if problem is None:
        out.update(spec_as_data(spec))
    elif isinstance(spec, dict) and spec.get("name"):
        out.update(pretrained=spec.get("pretrained"), not_rebuildable=problem)
    return model, out


def init_weights(net: nn.Module, cfg: TrainConfig, spec: dict[str, Any], verbose: bool) -> None:
    """Load ``cfg.model_path``, else apply the reference init unless the weights are pretrained."""
    if cfg.model_path:
        from segkit.models._weights import load_weights

        load_weights(net, cfg.model_path, verbose=verbose)
    elif cfg.init_type != "none" and not spec.get("pretrained"):  # init must not overwrite pretrained weights
        from segkit.models._weights import weights_init

        weights_init(net, cfg.init_type, cfg.init_gain, verbose=verbose)


def place_model(net: nn.Module, cfg: TrainConfig, info: DistInfo,
                say: Callable[..., None]) -> tuple[nn.Module, nn.Module, Precision]:
    """Move `net` to this process's device in the resolved precision and memory format.

    Returns:
        ``(net, model_train, precision)``: `net` (SyncBatchNorm-converted under DDP on CUDA
        when ``cfg.sync_bn``), the module to train through (the DDP wrapper or `net`), and
        the resolved precision.
    """
    dev = info.device
    net.to(dev)
    prec = resolve_precision(cfg.precision, cfg.channels_last, dev, net)
    say(f"[segkit] {prec.describe()}")
    if prec.channels_last:
        net.to(memory_format=torch.channels_last)
    if cfg.sync_bn and info.distributed:
        if dev.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        else:
            say("[segkit] sync_bn needs CUDA (PyTorch's SyncBatchNorm is GPU-only); using per-process BatchNorm")
    model_train = net
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dev.index] if dev.type == "cuda" else None
        model_train = DDP(net, device_ids=ids, find_unused_parameters=cfg.Freeze_Train or bool(cfg.part_unfreeze_epoch))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    return net, model_train, prec


def fingerprint_of(given: dict[str, Any], spec: dict[str, Any], num_classes: int, train_ds: Any, val_ds: Any,
                   test_ds: Any) -> dict[str, Any]:
    """The run's fingerprint: the config as given, the model spec and the data splits."""
    data = data_fingerprint({"train": train_ds, "val": val_ds, "test": test_ds})
    return run_fingerprint(given, {**spec, "num_classes": num_classes}, data)


def set_backbone_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze ``model.backbone`` (the freeze stage of the reference recipe)."""
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise ValueError(
            f"Freeze_Train=True needs a model with a .backbone module; {type(model).__name__} has none. "
            "Set Freeze_Train=False"
        )
    for p in backbone.parameters():
        p.requires_grad = trainable


def set_parts_trainable(model: nn.Module, unfreeze_epoch: dict[str, int], epoch: int, backbone_frozen: bool) -> list[str]:
    """Staged training (``part_unfreeze_epoch``): each named part trains from its epoch on and is frozen
    before it; a backbone part stays frozen while the reference's backbone freeze holds it.

    Returns:
        The parts frozen in `epoch`.

    Raises:
        ValueError: the model has no parameters in a named part.
    """
    from segkit.models.parts import part_parameters

    frozen = [part for part, start in unfreeze_epoch.items() if epoch < start]
    for part in unfreeze_epoch:
        params = part_parameters(model, part)
        if not params:
            raise ValueError(f"TrainConfig.part_unfreeze_epoch[{part!r}]: {type(model).__name__} has no parameters "
                             "in that part; remove the entry")
        for name, p in params:
            p.requires_grad = part not in frozen and not (backbone_frozen and name.startswith("backbone."))
    return frozen
