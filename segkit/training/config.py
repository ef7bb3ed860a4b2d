"""`TrainConfig`: the reference training recipe as one dataclass (docs/training.md).

Field names follow the reference framework (``Init_Epoch``, ``Freeze_batch_size``,
``Init_lr`` ...) so a user of it recognises them; segkit adds the model, data, device and
run-control fields. A config round-trips through YAML, unknown keys are errors with a
did-you-mean, every field is checked against (and strings coerced to) its declared type, and
``TrainConfig.profile("quick"|"paper", **overrides)`` loads the ``train:`` section of a
profile file shipped in ``segkit/profiles/``. `load_profile` is the one reader of profile
files (the report runner uses it too).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from segkit._typecheck import coerce_fields, field_types
from segkit._utils import did_you_mean

__all__ = ["TrainConfig", "load_profile", "list_profiles", "config_table", "read_yaml", "PROFILE_DIR", "PROFILE_SECTIONS"]

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"
# Top-level sections of a profile file: the TrainConfig, `segkit report` settings, notebook parameters.
PROFILE_SECTIONS = ("train", "report", "notebooks")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the model weights and the data.

    Reference fields (training.md): ``Init_Epoch``, ``Freeze_Epoch``, ``UnFreeze_Epoch``,
    ``Freeze_batch_size``, ``Unfreeze_batch_size``, ``Freeze_Train``, ``Init_lr``, ``Min_lr``
    (None: ``Init_lr * 0.01`` as the reference), ``optimizer_type``, ``momentum``,
    ``weight_decay``, ``lr_decay_type``, ``nbs``, ``save_period``, ``eval_period``,
    ``dice_loss``, ``focal_loss``, ``cls_weights`` (or ``"auto"``: see
    :func:`segkit.training.trainer.auto_class_weights`), ``num_workers``, ``seed``,
    ``input_shape``, ``downsample_factor``. The dataclass defaults are the reference values
    (the ``paper`` profile); the ``quick`` profile shrinks them for a CPU.

    segkit fields: ``model``/``model_kwargs`` (registry name and arguments; ``backbone`` and
    ``downsample_factor`` are passed to it when set; ``model_kwargs: {stitches: [...]}`` inserts
    modules, see ``segkit.build_model``), ``pretrained`` (backbone weights: ``"imagenet"``, a
    URL or a local file; "" for none), ``num_classes`` (None: from the
    dataset), ``ignore_index``, ``pad_label`` (label of padding: letterbox bars and the
    augmentation canvas; None: ``ignore_index``, so padding is not learnt; 0: the reference,
    which labels it background), ``check_binary`` (refuse a dataset whose masks look binary
    0/255; False when 255 really marks void), ``train_split``/``val_split``, ``test_split`` (the split
    reported in ``metrics.json`` when the dataset has it; the checkpoint is always chosen on
    ``val_split``; "" or a missing split reports on ``val_split``), ``augment``, ``device``,
    ``precision`` (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``; the reference's ``fp16``
    switch) and ``channels_last`` (``"auto"``, True, False), both resolved by
    :func:`segkit.runtime.precision.resolve_precision` (``"auto"``: chosen by the hardware),
    ``grad_clip`` (max grad norm, None: off), ``sync_bn``,
    ``init_type``/``init_gain`` (weight init when no ``model_path``), ``eval_batch_size``,
    ``absent`` (metrics policy for classes absent from GT and prediction: ``"nan"`` skips
    them, ``"zero"`` is the reference's ``max(., 1)``), ``aux_weight`` (deep-supervision
    outputs), ``eval_flag`` (periodic evaluation; the last epoch is always evaluated),
    ``val_loss_every_epoch`` (True: the validation loss, for the loss curve and ``best_loss.pt``,
    after every epoch as the reference does; False: only on the epochs whose mIoU is evaluated),
    ``max_train_batches``/``max_val_images`` (smoke runs), ``cudnn_benchmark``, ``time_limit``
    (seconds of training; None: off. The run stops within one step of it, the learning rate
    follows a warm-up + cosine over the steps the budget allows, ending at ``Min_lr``; the
    run also ends at ``UnFreeze_Epoch``: see :mod:`segkit.training.budget`), ``lr_scaling``
    (True: the reference's scaling of ``Init_lr``/``Min_lr`` by batch / ``nbs``, clamped to
    its per-optimiser limits; False: the rates are used as given), ``tensorboard`` (TensorBoard
    event files in ``<run_dir>/tensorboard/``: :mod:`segkit.training.tensorboard`).

    Options for longer and staged training (all off by default, so the profiles keep the
    reference behaviour): ``warmup_epochs`` (length of the ``"cos"`` schedule's quadratic
    warm-up; None: the reference's ``min(max(0.1 * UnFreeze_Epoch, 1), 3)``, 0: none) and
    ``warmup_lr_ratio`` (the warm-up's starting rate as a share of the peak), ``ema_decay``
    (an exponential moving average of the weights, updated after every step, in (0, 1), e.g.
    0.999; the averaged weights are what is validated, evaluated and saved as best.pt; None:
    off), ``early_stop_patience`` (stop after this many evaluations without a val mIoU
    better than the best by more than ``early_stop_min_delta``; None: off).

    Rare classes (docs/rare_classes.md): ``ohem_thresh`` (OHEM cross-entropy on the pixels whose
    true-class probability is below it; None: plain CE; not with ``focal_loss``), ``lovasz_loss``
    (adds Lovász-softmax), ``rare_sampling`` (DAFormer's rare-class sampling of training images at
    ``rare_temperature``; ``"auto"``: on when some class is held by fewer than 10 % of the training
    images, see `segkit.data.rare.sampling_needed`), ``train_crop`` (train on ``input_shape`` crops of the image at its own
    resolution times ``crop_scale``, or ``"auto"``: the scale at which a crop covers half the image,
    at most 1; a crop holds a rare class with probability ``crop_rare_prob``; evaluation then runs
    on whole images at that scale instead of the letterbox).

    Remedies for combined modules (docs/training.md; parts as in :mod:`segkit.models.parts`):
    ``zero_gate`` (the model's added modules enter through zero-initialised residual gates: passed
    to the model as ``zero_gate=True`` and recorded in its spec), ``warm_start`` (part name -> a run
    directory or checkpoint file whose weights that part starts from; not re-applied on resume),
    ``part_unfreeze_epoch`` (part name -> the 0-based epoch from which it trains; frozen before),
    ``distill_from`` (a teacher run directory or checkpoint), ``distill_weight`` and
    ``distill_temperature`` (the loss adds ``distill_weight * T^2 * KL(teacher || student)`` at
    temperature T over the labelled pixels: :mod:`segkit.losses.distill`).
    """

    # model
    model: str = "deeplabv3plus-mobilenetv2"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = ""
    downsample_factor: int = 16
    model_path: str = ""
    pretrained: str = ""
    init_type: Literal["normal", "xavier", "kaiming", "orthogonal", "none"] = "normal"
    init_gain: float = 0.02
    # data
    num_classes: int | None = None
    input_shape: list[int] = field(default_factory=lambda: [512, 512])
    ignore_index: int = 255
    pad_label: int | None = None
    check_binary: bool = True
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
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
    warmup_epochs: float | None = None
    warmup_lr_ratio: float = 0.1
    nbs: int = 16
    lr_scaling: bool = True
    ema_decay: float | None = None
    # loss
    dice_loss: bool = False
    focal_loss: bool = False
    cls_weights: list[float] | Literal["auto"] | None = None
    aux_weight: float = 0.4
    ohem_thresh: float | None = None
    lovasz_loss: bool = False
    # rare classes
    rare_sampling: bool | Literal["auto"] = False
    rare_temperature: float = 0.01
    train_crop: bool = False
    crop_rare_prob: float = 0.5
    crop_scale: float | Literal["auto"] = 1.0
    # remedies for combined modules
    zero_gate: bool = False
    warm_start: dict[str, str] | None = None
    part_unfreeze_epoch: dict[str, int] | None = None
    distill_from: str | None = None
    distill_weight: float = 0.0
    distill_temperature: float = 1.0
    # checkpoints and evaluation
    save_period: int = 5
    eval_flag: bool = True
    eval_period: int = 5
    val_loss_every_epoch: bool = True
    eval_batch_size: int = 4
    absent: Literal["nan", "zero"] = "nan"
    early_stop_patience: int | None = None
    early_stop_min_delta: float = 0.0
    # runtime
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    grad_clip: float | None = None
    channels_last: Literal["auto"] | bool = "auto"
    sync_bn: bool = False
    cudnn_benchmark: bool = True
    num_workers: int | Literal["auto"] = 4
    seed: int = 11
    max_train_batches: int | None = None
    max_val_images: int | None = None
    time_limit: float | None = None
    tensorboard: bool = True

    def __post_init__(self) -> None:
        self._coerce_types()
        if self.Min_lr is None:
            self.Min_lr = self.Init_lr * 0.01  # the reference: prints 7.000000000000001e-05
        self.validate()

    # ------------------------------------------------------------------ checks
    def _coerce_types(self) -> None:
        """Convert every field to its declared type (YAML and ``--set`` give ``"5e-4"`` as a string)."""
        coerce_fields(self)

    def validate(self) -> None:
        """Check every field's type (coercing strings) and range; raise ``ValueError`` naming the
        field, the value and the fix."""
        self._coerce_types()
        self._validate_finite()
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
        if self.pad_label is not None and not 0 <= self.pad_label < min(self.num_classes or 255, 255):
            raise ValueError(f"TrainConfig.pad_label={self.pad_label} must be a class index (0 is the reference's "
                             f"background) or None (padding = ignore_index, not learnt)")
        self._validate_rare()
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"TrainConfig.time_limit={self.time_limit} must be a positive number of seconds "
                             "or None (train for UnFreeze_Epoch epochs)")
        self._validate_training_options()
        self._validate_remedies()
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

    def _validate_finite(self) -> None:
        """No inf or NaN in any number (``--set Init_lr=.inf`` would train on NaN)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            items = value if isinstance(value, (list, tuple)) else [value]
            for v in items:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"TrainConfig.{f.name}={value!r} is not a finite number; give a real value "
                                     f"(e.g. --set {f.name}=<number>){' or null' if self._nullable(f.name) else ''}")

    @staticmethod
    def _nullable(name: str) -> bool:
        return type(None) in getattr(field_types(TrainConfig)[name], "__args__", ())

    def _validate_training_options(self) -> None:
        """Warm-up, EMA and early-stopping values (each error names the field, the value and the fix)."""
        if self.warmup_epochs is not None:
            if not 0 <= self.warmup_epochs <= self.UnFreeze_Epoch:
                raise ValueError(f"TrainConfig.warmup_epochs={self.warmup_epochs} must lie in [0, UnFreeze_Epoch="
                                 f"{self.UnFreeze_Epoch}] (None: the reference's 10 % of the epochs, 1 to 3)")
            if self.lr_decay_type != "cos":
                raise ValueError(f"TrainConfig.warmup_epochs={self.warmup_epochs} applies to lr_decay_type='cos' "
                                 "(the 'step' schedule has no warm-up); set lr_decay_type='cos' or warmup_epochs=None")
        if not 0 < self.warmup_lr_ratio <= 1:
            raise ValueError(f"TrainConfig.warmup_lr_ratio={self.warmup_lr_ratio} must lie in (0, 1]: the warm-up "
                             "starts at this share of the peak rate (reference: 0.1)")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"TrainConfig.ema_decay={self.ema_decay} must lie in (0, 1), e.g. 0.999 "
                             "(the share of the average kept at each step), or None to train without EMA")
        if self.early_stop_patience is not None:
            if self.early_stop_patience < 1:
                raise ValueError(f"TrainConfig.early_stop_patience={self.early_stop_patience} must be >= 1 "
                                 "(evaluations without improvement), or None for no early stopping")
            if not self.eval_flag:
                raise ValueError("TrainConfig.early_stop_patience needs eval_flag=True: early stopping watches the "
                                 "periodic val mIoU; set eval_flag=True or early_stop_patience=None")
        if self.early_stop_min_delta < 0:
            raise ValueError(f"TrainConfig.early_stop_min_delta={self.early_stop_min_delta} must be >= 0 "
                             "(the mIoU gain that counts as an improvement)")

    def _validate_remedies(self) -> None:
        """Part names, unfreeze epochs and the distillation settings."""
        self._check_parts("warm_start", str, "a run directory or checkpoint file, e.g. {backbone: runs/x/seed0}")
        self._check_parts("part_unfreeze_epoch", int, "an epoch, e.g. {ggca: 4, sff: 4, aspp: 4}")
        for part, epoch in (self.part_unfreeze_epoch or {}).items():
            if not 0 < epoch < self.UnFreeze_Epoch:
                raise ValueError(f"TrainConfig.part_unfreeze_epoch[{part!r}]={epoch} must lie in [1, UnFreeze_Epoch-1"
                                 f"={self.UnFreeze_Epoch - 1}]: the 0-based epoch from which the part trains")
        if self.distill_weight < 0 or not self.distill_temperature > 0:
            raise ValueError(f"TrainConfig.distill_weight={self.distill_weight} / distill_temperature="
                             f"{self.distill_temperature}: need distill_weight >= 0 and distill_temperature > 0")
        if bool(self.distill_from) != (self.distill_weight > 0):
            raise ValueError(f"TrainConfig.distill_from={self.distill_from!r} with distill_weight={self.distill_weight}: "
                             "distillation needs both a teacher run and a weight > 0; set both (e.g. "
                             "distill_weight=0.5) or neither")

    def _check_parts(self, name: str, kind: type, example: str) -> None:
        """A mapping of known part names (each named once) to values of `kind`."""
        mapping = getattr(self, name) or {}
        if not mapping:  # nothing to check: the model package (and torch) stays unimported
            return
        from segkit.models.parts import part_name

        seen: dict[str, str] = {}
        for key, value in mapping.items():
            try:
                part = part_name(str(key))
            except ValueError as exc:
                raise ValueError(f"TrainConfig.{name}: {exc}") from None
            if part in seen:
                raise ValueError(f"TrainConfig.{name} names the part {part!r} twice ({seen[part]!r} and {key!r}); "
                                 "keep one")
            seen[part] = str(key)
            if not isinstance(value, kind) or isinstance(value, bool) or value == "":
                raise ValueError(f"TrainConfig.{name}[{key!r}]={value!r}: give {example}")

    def _validate_rare(self) -> None:
        if self.ohem_thresh is not None and not 0 < self.ohem_thresh <= 1:
            raise ValueError(f"TrainConfig.ohem_thresh={self.ohem_thresh} must be in (0, 1] (e.g. 0.7) or None (plain CE)")
        if self.ohem_thresh is not None and self.focal_loss:
            raise ValueError(f"TrainConfig.ohem_thresh={self.ohem_thresh} with focal_loss=True: both pick the hard "
                             "pixels; set focal_loss=false or ohem_thresh=null")
        if not self.rare_temperature > 0:
            raise ValueError(f"TrainConfig.rare_temperature={self.rare_temperature} must be > 0 (DAFormer: 0.01; "
                             "larger is closer to uniform)")
        if self.crop_scale != "auto" and not 0 < self.crop_scale <= 4:
            raise ValueError(f"TrainConfig.crop_scale={self.crop_scale} must be in (0, 4] or 'auto': the factor applied "
                             "to the full-resolution image before cropping and evaluation (1 = as it is; auto: a crop "
                             "covers half the image)")
        if not 0 <= self.crop_rare_prob <= 1:
            raise ValueError(f"TrainConfig.crop_rare_prob={self.crop_rare_prob} must be a probability in [0, 1]")

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
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source: str | Path) -> "TrainConfig":
        """Read a YAML file (or YAML text). A top-level ``train:`` section is used when present."""
        data = read_yaml(source) if _is_path(source) else _parse_yaml(str(source), "the YAML text")
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

    def class_changes(self, num_classes: int, keep: typing.Iterable[str] = ()) -> tuple[dict[str, Any], str | None]:
        """What fits this config to data of `num_classes` classes: a ``num_classes`` or a
        ``cls_weights`` list made for another class count (the paper profile's 3 classes) becomes
        the data's count and ``"auto"`` weights, unless named in `keep` (set by the user).

        Returns:
            ``(changes for replace(), a line saying what changed or None)``.
        """
        changes: dict[str, Any] = {}
        if self.num_classes not in (None, num_classes) and "num_classes" not in keep:
            changes["num_classes"] = num_classes
        if (isinstance(self.cls_weights, list) and len(self.cls_weights) != num_classes
                and "cls_weights" not in keep):
            changes["cls_weights"] = "auto"
        if not changes:
            return changes, None
        was = ", ".join(f"{k}={getattr(self, k)}" for k in changes)
        now = ", ".join(f"{k}={v}" for k, v in changes.items())
        return changes, f"[segkit] the profile's {was} are for other data; this data has {num_classes} classes: {now}"

    # ------------------------------------------------------------------ printing
    def table(self, num_train: int | None = None, num_val: int | None = None, save_dir: str = "",
              num_classes: int | None = None) -> str:
        """The reference's ``Configurations:`` table."""
        return config_table(self, num_train=num_train, num_val=num_val, save_dir=save_dir, num_classes=num_classes)

    def summary(self) -> str:
        """The recipe in one line, in words: optimiser, learning rates, schedule, epochs, batch, size, loss.

        E.g. ``Adam, lr 0.0003 -> 3e-06 (cosine; Init_lr 0.0005 x batch 4 / nbs 16, clamped to the adam
        limits), weight decay 0, 4 epochs, batch 4, 64x64, CE + Dice, class weights auto``: the
        learning rates are the ones training uses, so a methods section quotes what ran. The
        facts come from :func:`segkit.training.recipe.recipe_of`, which the report's training
        paragraph states in sentences.
        """
        from segkit.training.recipe import recipe_of

        return recipe_of(self).one_line(self)


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


def read_yaml(path: str | Path) -> Any:
    """A YAML file (UTF-8, BOM dropped) as Python data; a syntax error names the file, line and column."""
    return _parse_yaml(Path(path).read_text(encoding="utf-8-sig"), str(path))


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValueError(f"{where}: invalid YAML{at}: {exc.problem or exc.context}") from None


def list_profiles() -> list[str]:
    """Names of the profiles shipped with segkit."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str | Path) -> dict[str, Any]:
    """Read a profile file: a name in ``segkit/profiles/`` (``"quick"``, ``"paper"``) or a YAML path.

    The file is a mapping of the sections in `PROFILE_SECTIONS`: ``train:`` (a `TrainConfig`,
    required, so a typo cannot fall back to the defaults), ``report:`` and ``notebooks:``.

    Raises:
        FileNotFoundError: a ``.yaml`` path that does not exist.
        ValueError: an unknown profile name, a file that is not a mapping, no ``train:``
            section, or an unknown section (each with a did-you-mean).
    """
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"profile file {str(path)!r} does not exist")
    else:
        path = PROFILE_DIR / f"{name}.yaml"
        if not path.is_file():
            names = list_profiles()
            raise ValueError(f"unknown profile {str(name)!r}.{did_you_mean(str(name), names)} "
                             f"Available: {', '.join(names)} (or a .yaml path)")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ValueError(f"profile {str(path)!r} must be a YAML mapping with a 'train:' section, "
                         f"not a {type(data).__name__}")
    unknown = [k for k in data if k not in PROFILE_SECTIONS]
    if unknown:
        hints = "".join(did_you_mean(str(k), PROFILE_SECTIONS) for k in unknown)
        raise ValueError(f"profile {str(path)!r}: unknown section(s) {unknown}.{hints} "
                         f"Sections: {', '.join(PROFILE_SECTIONS)}")
    if not isinstance(data.get("train"), dict):
        raise ValueError(f"profile {str(path)!r} has no 'train:' section (a mapping of TrainConfig fields); "
                         "add one, e.g. 'train: {UnFreeze_Epoch: 20}', so the recipe is not silently the default")
    return data


def config_table(
    cfg: TrainConfig, num_train: int | None = None, num_val: int | None = None, save_dir: str = "",
    num_classes: int | None = None,
) -> str:
    """Render the reference framework's table: ``Configurations:``, 70-dash rules, ``'|%25s | %40s|'`` rows.

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
    lines.append(_effective_lr_line(cfg))
    return "\n".join(lines)


def _effective_lr_line(cfg: TrainConfig) -> str:
    """The learning rates training really uses: scaled by batch/nbs, clamped to the optimiser's limits."""
    from segkit.training.schedule import config_lr, lr_limits

    bs = cfg.Unfreeze_batch_size
    backbone = cfg.backbone or cfg.model
    lo, hi = lr_limits(cfg.optimizer_type, backbone)
    init_fit, min_fit = config_lr(cfg, bs, backbone)
    if not cfg.lr_scaling:
        return f"lr as given (lr_scaling: false): Init_lr {init_fit:.6g}, Min_lr {min_fit:.6g}"
    return (f"effective lr at batch size {bs}: Init_lr {init_fit:.6g}, Min_lr {min_fit:.6g} "
            f"(x {bs}/nbs={cfg.nbs}, clamped to the {cfg.optimizer_type} limits [{lo:g}, {hi:g}])")
