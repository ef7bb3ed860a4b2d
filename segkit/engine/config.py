"""`TrainConfig`: the reference training recipe as one dataclass (training.md §3-§9).

Field names follow the reference framework (``Init_Epoch``, ``Freeze_batch_size``,
``Init_lr`` ...) so a user of it recognises them; segkit adds the model, data, device and
run-control fields. A config round-trips through YAML, unknown keys are errors with a
did-you-mean, and ``TrainConfig.profile("quick"|"paper", **overrides)`` loads the ``train:``
section of a profile file shipped in ``segkit/profiles/``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from segkit._utils import did_you_mean
from segkit.engine.precision import PRECISIONS, check_channels_last

__all__ = ["TrainConfig", "load_profile", "list_profiles", "config_table"]

_PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"


@dataclass
class TrainConfig:
    """Everything a training run needs besides the model weights and the data.

    Reference fields (training.md): ``Init_Epoch``, ``Freeze_Epoch``, ``UnFreeze_Epoch``,
    ``Freeze_batch_size``, ``Unfreeze_batch_size``, ``Freeze_Train``, ``Init_lr``, ``Min_lr``
    (None: ``Init_lr * 0.01`` as the reference), ``optimizer_type``, ``momentum``,
    ``weight_decay``, ``lr_decay_type``, ``nbs``, ``save_period``, ``eval_period``,
    ``dice_loss``, ``focal_loss``, ``cls_weights`` (or ``"auto"``: see
    :func:`segkit.engine.trainer.auto_class_weights`), ``num_workers``, ``seed``,
    ``input_shape``, ``downsample_factor``. The dataclass defaults are the reference values
    (the ``paper`` profile); the ``quick`` profile shrinks them for a CPU.

    segkit fields: ``model``/``model_kwargs`` (registry name and arguments; ``backbone`` and
    ``downsample_factor`` are passed to it when set), ``num_classes`` (None: from the
    dataset), ``ignore_index``, ``train_split``/``val_split``, ``augment``, ``device``,
    ``precision`` (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``; the reference's ``fp16``
    switch) and ``channels_last`` (``"auto"``, True, False), both resolved by
    :func:`segkit.engine.precision.resolve_precision` (``"auto"``: chosen by the hardware),
    ``grad_clip`` (max grad norm, None: off), ``sync_bn``,
    ``init_type``/``init_gain`` (weight init when no ``model_path``), ``eval_batch_size``,
    ``absent`` (metrics policy for classes absent from GT and prediction: ``"nan"`` skips
    them, ``"zero"`` is the reference's ``max(., 1)``), ``aux_weight`` (deep-supervision
    outputs), ``eval_flag`` (periodic evaluation; the last epoch is always evaluated),
    ``max_train_batches``/``max_val_images`` (smoke runs), ``cudnn_benchmark``.
    """

    # model
    model: str = "deeplabv3plus-mobilenetv2"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = ""
    downsample_factor: int = 16
    model_path: str = ""
    init_type: Literal["normal", "xavier", "kaiming", "orthogonal", "none"] = "normal"
    init_gain: float = 0.02
    # data
    num_classes: int | None = None
    input_shape: list[int] = field(default_factory=lambda: [512, 512])
    ignore_index: int = 255
    train_split: str = "train"
    val_split: str = "val"
    augment: bool = True
    # epochs and batches
    Init_Epoch: int = 0
    Freeze_Epoch: int = 50
    UnFreeze_Epoch: int = 100
    Freeze_batch_size: int = 8
    Unfreeze_batch_size: int = 2
    Freeze_Train: bool = False
    # optimiser and schedule
    Init_lr: float = 7e-3
    Min_lr: float | None = None
    optimizer_type: Literal["sgd", "adam", "adamw"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_decay_type: Literal["cos", "step"] = "cos"
    nbs: int = 16
    # loss
    dice_loss: bool = False
    focal_loss: bool = False
    cls_weights: list[float] | Literal["auto"] | None = None
    aux_weight: float = 0.4
    # checkpoints and evaluation
    save_period: int = 5
    eval_flag: bool = True
    eval_period: int = 5
    eval_batch_size: int = 4
    absent: Literal["nan", "zero"] = "nan"
    # runtime
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    grad_clip: float | None = None
    channels_last: Literal["auto"] | bool = "auto"
    sync_bn: bool = False
    cudnn_benchmark: bool = True
    num_workers: int = 4
    seed: int = 11
    max_train_batches: int | None = None
    max_val_images: int | None = None

    def __post_init__(self) -> None:
        if self.Min_lr is None:
            self.Min_lr = self.Init_lr * 0.01  # the reference: prints 7.000000000000001e-05
        self.input_shape = [int(v) for v in self.input_shape]
        if isinstance(self.channels_last, str) and self.channels_last.lower() in ("true", "false"):
            self.channels_last = self.channels_last.lower() == "true"  # a command line's --set channels_last=True
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and the fix."""
        choices = {
            "optimizer_type": ("sgd", "adam", "adamw"),
            "lr_decay_type": ("cos", "step"),
            "precision": PRECISIONS,
            "init_type": ("normal", "xavier", "kaiming", "orthogonal", "none"),
            "absent": ("nan", "zero"),
        }
        for name, ok in choices.items():
            value = getattr(self, name)
            if value not in ok:
                raise ValueError(f"TrainConfig.{name}={value!r} is not one of {ok}.{did_you_mean(str(value), ok)}")
        check_channels_last(self.channels_last, "TrainConfig.channels_last")
        if len(self.input_shape) != 2 or min(self.input_shape) <= 0:
            raise ValueError(f"TrainConfig.input_shape={self.input_shape!r} must be [height, width], e.g. [512, 512]")
        if not 0 <= self.Init_Epoch < self.UnFreeze_Epoch:
            raise ValueError(
                f"TrainConfig.Init_Epoch={self.Init_Epoch} must satisfy 0 <= Init_Epoch < UnFreeze_Epoch={self.UnFreeze_Epoch}"
            )
        if self.Freeze_Train and not self.Init_Epoch <= self.Freeze_Epoch <= self.UnFreeze_Epoch:
            raise ValueError(
                f"TrainConfig.Freeze_Epoch={self.Freeze_Epoch} must lie in [Init_Epoch, UnFreeze_Epoch] "
                f"= [{self.Init_Epoch}, {self.UnFreeze_Epoch}] when Freeze_Train is on"
            )
        for name in ("Freeze_batch_size", "Unfreeze_batch_size", "save_period", "eval_period", "nbs", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be >= 1")
        if self.Init_lr <= 0 or self.Min_lr is None or self.Min_lr < 0:
            raise ValueError(f"TrainConfig.Init_lr={self.Init_lr} / Min_lr={self.Min_lr}: need Init_lr > 0 and Min_lr >= 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"TrainConfig.grad_clip={self.grad_clip} must be a positive max-norm or None (off)")
        if isinstance(self.cls_weights, str) and self.cls_weights != "auto":
            raise ValueError(f"TrainConfig.cls_weights={self.cls_weights!r}: give one weight per class, 'auto' "
                             "(from the training masks' class frequencies) or None")
        if (self.num_classes is not None and isinstance(self.cls_weights, list)
                and len(self.cls_weights) != self.num_classes):
            raise ValueError(
                f"TrainConfig.cls_weights has {len(self.cls_weights)} entries but num_classes={self.num_classes}; "
                "give one weight per class or None"
            )

    # ------------------------------------------------------------------ dict / yaml
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) in field order."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "TrainConfig":
        """Build from a dict; unknown keys raise ``ValueError`` with a did-you-mean."""
        data = _legacy_precision(dict(data or {}))
        names = [f.name for f in dataclasses.fields(cls)]
        lower = {n.lower(): n for n in names}
        bad = [k for k in data if k not in names]
        if bad:
            hints = []
            for k in bad:
                exact = lower.get(k.lower())
                hints.append(f" {k!r}: did you mean {exact!r}?" if exact else did_you_mean(k, names))
            raise ValueError(f"unknown TrainConfig key(s) {bad}.{''.join(hints)} Valid keys: {', '.join(names)}")
        return cls(**data)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """YAML text of the config (written to `path` when given)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | Path) -> "TrainConfig":
        """Read a YAML file (or YAML text). A top-level ``train:`` section is used when present."""
        text = Path(source).read_text() if _is_path(source) else str(source)
        data = yaml.safe_load(text) or {}
        if isinstance(data, dict) and isinstance(data.get("train"), dict):
            data = data["train"]
        return cls.from_dict(data)

    def replace(self, **overrides: Any) -> "TrainConfig":
        """A copy with fields changed (unknown names raise with a did-you-mean)."""
        data = self.to_dict()
        if "Init_lr" in overrides and "Min_lr" not in overrides:
            data["Min_lr"] = None  # keep the reference tie Min_lr = Init_lr * 0.01
        data.update(overrides)
        return TrainConfig.from_dict(data)

    @classmethod
    def profile(cls, name: str = "quick", **overrides: Any) -> "TrainConfig":
        """The ``train:`` section of a profile (``"quick"``, ``"paper"`` or a YAML path), plus overrides."""
        data = dict(load_profile(name).get("train") or {})
        if "Init_lr" in overrides and "Min_lr" not in overrides:
            data.pop("Min_lr", None)
        data.update(overrides)
        return cls.from_dict(data)

    # ------------------------------------------------------------------ printing
    def table(self, num_train: int | None = None, num_val: int | None = None, save_dir: str = "",
              num_classes: int | None = None) -> str:
        """The reference's ``Configurations:`` table (training.md §9)."""
        return config_table(self, num_train=num_train, num_val=num_val, save_dir=save_dir, num_classes=num_classes)


def _legacy_precision(data: dict[str, Any]) -> dict[str, Any]:
    """Read the ``fp16`` / ``amp_dtype`` keys of configs written before ``precision`` existed."""
    if "fp16" not in data and "amp_dtype" not in data:
        return data
    fp16, amp = data.pop("fp16", False), data.pop("amp_dtype", "float16")
    if "precision" not in data:
        data["precision"] = ("bf16" if amp == "bfloat16" else "fp16") if fp16 else "fp32"
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _is_path(source: str | Path) -> bool:
    if isinstance(source, Path):
        return True
    return "\n" not in source and ":" not in source.split("/")[-1] and Path(source).suffix in (".yaml", ".yml")


def list_profiles() -> list[str]:
    """Names of the profiles shipped with segkit."""
    return sorted(p.stem for p in _PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    """The whole profile file as a dict (sections ``train:`` and any others, e.g. notebook parameters)."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        path = _PROFILE_DIR / f"{name}.yaml"
        if not path.is_file():
            names = list_profiles()
            raise ValueError(f"unknown profile {name!r}.{did_you_mean(name, names)} Available: {', '.join(names)} (or a .yaml path)")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"profile {str(path)!r} must be a YAML mapping with a 'train:' section")
    return data


def config_table(
    cfg: TrainConfig, num_train: int | None = None, num_val: int | None = None, save_dir: str = "",
    num_classes: int | None = None,
) -> str:
    """Render training.md §9: ``Configurations:``, 70-dash rules, ``'|%25s | %40s|'`` rows.

    `num_classes` overrides ``cfg.num_classes`` (e.g. when it was taken from the dataset).
    """
    rows = [
        ("num_classes", num_classes if num_classes is not None else cfg.num_classes),
        ("backbone", cfg.backbone),
        ("model_path", cfg.model_path),
        ("input_shape", list(cfg.input_shape)),
        ("Init_Epoch", cfg.Init_Epoch),
        ("Freeze_Epoch", cfg.Freeze_Epoch),
        ("UnFreeze_Epoch", cfg.UnFreeze_Epoch),
        ("Freeze_batch_size", cfg.Freeze_batch_size),
        ("Unfreeze_batch_size", cfg.Unfreeze_batch_size),
        ("Freeze_Train", cfg.Freeze_Train),
        ("Init_lr", cfg.Init_lr),
        ("Min_lr", cfg.Min_lr),
        ("optimizer_type", cfg.optimizer_type),
        ("momentum", cfg.momentum),
        ("lr_decay_type", cfg.lr_decay_type),
        ("save_period", cfg.save_period),
        ("save_dir", save_dir),
        ("num_workers", cfg.num_workers),
        ("num_train", num_train),
        ("num_val", num_val),
    ]
    rule = "-" * 70
    lines = ["Configurations:", rule, "|%25s | %40s|" % ("keys", "values"), rule]
    lines += ["|%25s | %40s|" % (k, str(v)) for k, v in rows]
    lines.append(rule)
    return "\n".join(lines)
