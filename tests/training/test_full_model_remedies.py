"""Remedies for the combined model (issue #31): model parts, zero-initialised gates, warm start by
part, staged unfreezing and distillation, on tiny DeepLabV3+ models (width 0.25, 64x64, 3 classes)."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn
import yaml

from segkit.engine import Callback, TrainConfig, train
from segkit.engine.build import build_run_model, set_parts_trainable
from segkit.engine.checkpoint import atomic_save, checkpoint_payload, load_checkpoint
from segkit.engine.from_runs import warm_start
from segkit.losses.distill import distill_loss
from segkit.models import build_model
from segkit.models._spec import parse_insert
from segkit.models.deeplab import PRESETS, create_deeplabv3plus
from segkit.models.parts import PARTS, attention_paths, part_keys, part_name, part_parameters
from segkit.modules.attn_gate import AttnGate

MVIT_HEADS = ("wa_aspp_mvit", "lite_mvit_aspp", "wa_aspp_v2", "ag_aspp_mvit", "msa_aspp")


def tiny_kwargs(**cfg) -> dict:
    """A preset's config at width 0.25 with 16-wide heads (seconds on a CPU)."""
    aspp = cfg.get("aspp", "aspp")
    kw = {**cfg, "aspp_dim": 16, "shortcut_channels": 8, "head_channels": 16,
          "backbone_kwargs": {"width_mult": 0.25}}
    extra = dict(mvit_dim=16, mvit_mlp_dim=16) if aspp in MVIT_HEADS else dict(heads=2) if "wa_aspp" in aspp else {}
    kw["aspp_kwargs"] = {**cfg.get("aspp_kwargs", {}), **extra}
    return kw


def tiny(seed: int = 0, **cfg) -> nn.Module:
    torch.manual_seed(seed)
    return create_deeplabv3plus(num_classes=3, **tiny_kwargs(**cfg)).eval()


def copy_shared(src: nn.Module, dst: nn.Module, rename=lambda k: k) -> int:
    """Copy every tensor of `src` into `dst` whose (renamed) key and shape match; returns the count."""
    own = dst.state_dict()
    shared = {rename(k): v for k, v in src.state_dict().items() if rename(k) in own and own[rename(k)].shape == v.shape}
    dst.load_state_dict(shared, strict=False)
    return len(shared)


def scramble(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so the comparisons are not of a near-constant output."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------- parts
PAPER = sorted(n for n in PRESETS if "xception" not in n)


@pytest.mark.parametrize("name", PAPER)
def test_every_key_of_a_paper_preset_is_in_exactly_one_part(name):
    model = tiny(**PRESETS[name]["cfg"])
    by_part = {p: set(part_keys(model, p)) for p in PARTS}
    assert sum(len(k) for k in by_part.values()) == len(model.state_dict())
    blocks = getattr(model.backbone, "attn_blocks", [])
    assert len(attention_paths(model)) == len(blocks)  # found by type, one per block the policy gave one
    assert bool(by_part["attention"]) == bool(blocks)
    assert bool(by_part["sff"]) == (model.fusion is not None)
    assert all(k.startswith("aspp.") for k in by_part["aspp"]) and by_part["aspp"]
    assert {k.split(".")[0] for k in by_part["decoder"]} == {"shortcut_conv", "cat_conv", "cls_conv"}


def test_part_names_and_the_ggca_alias():
    model = tiny(attn="ggca")
    assert part_name("ggca") == "attention"
    assert [n for n, _ in part_parameters(model, "ggca")] == [n for n, _ in part_parameters(model, "attention")]
    with pytest.raises(ValueError, match="known parts: backbone, attention, sff, aspp, decoder"):
        part_keys(model, "neck")


# ----------------------------------------------------------------------------- zero gates
def test_gated_ggca_equals_the_plain_backbone_at_init():
    plain, gated = tiny(0), tiny(1, attn="ggca", zero_gate=True)
    scramble(plain)
    assert copy_shared(plain, gated) == len(plain.state_dict())
    with torch.no_grad():
        assert torch.allclose(gated(X), plain(X), atol=1e-6)
        ungated = tiny(1, attn="ggca")
        copy_shared(plain, ungated)
        assert not torch.allclose(ungated(X), plain(X), atol=1e-3)  # the attention does change the output
    gates = [n for n, _ in gated.named_parameters() if n.endswith("zero_gate")]
    assert len(gates) == len(gated.backbone.attn_blocks) and all(".attn.zero_gate" in n for n in gates)


def test_gated_full_model_equals_the_model_without_its_modules_at_init():
    """GGCA + SFF2 + MSA_ASPP gated == plain MobileNetV2, no fusion, MSA_ASPP without its attention."""
    gated = tiny(1, attn="ggca", fusion="sff2", aspp="msa_aspp", zero_gate=True)
    plain = tiny(0, aspp="msa_aspp")
    plain.aspp.mvit = nn.ModuleList(nn.Identity() for _ in plain.aspp.mvit)  # branch = its 1x1 projection
    plain.aspp.gates = nn.ModuleList(nn.Identity() for _ in plain.aspp.gates)
    scramble(plain)
    copy_shared(plain, gated)
    assert gated.shortcut_conv[0].in_channels == plain.shortcut_conv[0].in_channels  # the plain shortcut kept
    with torch.no_grad():
        assert torch.allclose(gated(X), plain(X), atol=1e-6)
        gated.fusion_gate.fill_(1.0)  # fully open: the fusion's own shortcut drives the decoder
        assert not torch.allclose(gated(X), plain(X), atol=1e-3)


def test_gated_attention_aspp_names_its_attention():
    gated = tiny(attn=None, aspp="msa_aspp", zero_gate=True)
    mods = gated.aspp.attention_modules()
    assert sum(isinstance(m, AttnGate) for m in mods) == 3 and len(mods) == 6
    assert all(m.zero_gate.item() == 0.0 for m in mods)


def test_zero_gate_keeps_the_ungated_parameter_counts():
    for name in ("sff-wadeeplab", "improved-mobilenetv2"):
        assert sum(p.numel() for p in build_model(name).parameters()) == PRESETS[name]["params"]
    with pytest.raises(ValueError, match="tap 4"):
        tiny(fusion="sff3", zero_gate=True)


def test_gated_stitch_equals_the_host_model_at_init():
    assert parse_insert("backbone.features.7=cbam:gated") == {"at": "backbone.features.7", "where": "after",
                                                              "module": "cbam", "gated": True}
    assert parse_insert("a=se:before:gated")["where"] == "before"
    with pytest.raises(ValueError, match="gated"):
        parse_insert("a=se:gated:before")
    plain = tiny(0)
    scramble(plain)
    torch.manual_seed(1)
    stitched = build_model("deeplabv3plus", num_classes=3, **tiny_kwargs(),
                           stitches=[{"at": "backbone.features.7", "module": "cbam", "gated": True}]).eval()
    assert stitched.segkit_spec["stitches"][0]["gated"] is True
    assert copy_shared(plain, stitched, rename=lambda k: k.replace("features.7.", "features.7.host.")) == len(
        plain.state_dict())
    with torch.no_grad():
        assert torch.allclose(stitched(X), plain(X), atol=1e-6)
    assert attention_paths(stitched) == ["backbone.features.7.cbam"]  # a stitched module is backbone attention
    with pytest.raises(ValueError, match="where='after' or 'before'"):
        build_model("deeplabv3plus", num_classes=3, **tiny_kwargs(),
                    stitches=[{"at": "backbone.features.7", "module": "cbam", "where": "replace", "gated": True}])


# ----------------------------------------------------------------------------- warm start and stages
def test_warm_start_loads_each_part_and_reports_it(tmp_path):
    source = tiny(0, attn="ggca")
    path = tmp_path / "improved.pt"
    atomic_save(checkpoint_payload(source, {}, {}, ["a", "b", "c"], 1), path)
    target = tiny(1, attn="ggca", fusion="sff2", aspp="msa_aspp", zero_gate=True)
    lines = []
    records = warm_start(target, {"backbone": str(path), "ggca": str(path), "aspp": str(path)}, tmp_path,
                         lines.append)
    assert records["backbone"]["loaded"] == records["backbone"]["tensors"] and not records["backbone"]["partial"]
    assert records["ggca"]["missing"] == len(attention_paths(target))  # the gates are new
    assert records["aspp"]["partial"] and records["aspp"]["missing"] > 0  # classic ASPP into MSA_ASPP
    assert json.loads((tmp_path / "warm_start.json").read_text()) == records
    assert len(lines) == 3 and "PARTIAL" in lines[2]
    sd = target.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in source.state_dict().items() if k.startswith("backbone."))
    with pytest.raises(FileNotFoundError, match=r"warm_start\['sff'\]: '.*nope' is neither a checkpoint file"):
        warm_start(target, {"sff": str(tmp_path / "nope")}, None, print)


def test_staged_training_freezes_exactly_the_stated_parts():
    model = tiny(attn="ggca", fusion="sff2")
    stages = {"ggca": 2, "sff": 3}
    for epoch, expect in [(0, {"attention", "sff"}), (1, {"attention", "sff"}), (2, {"sff"}), (3, set())]:
        assert set(map(part_name, set_parts_trainable(model, stages, epoch, backbone_frozen=False))) == expect
        for part in PARTS:
            grads = {p.requires_grad for _, p in part_parameters(model, part)}
            assert grads == {part not in expect}, (epoch, part)
    set_parts_trainable(model, stages, 2, backbone_frozen=True)  # the backbone freeze keeps GGCA frozen
    assert not any(p.requires_grad for _, p in part_parameters(model, "attention"))
    with pytest.raises(ValueError, match=r"part_unfreeze_epoch\['sff'\]"):
        set_parts_trainable(tiny(), {"sff": 1}, 0, False)


# ----------------------------------------------------------------------------- distillation
def test_distill_loss_equals_a_hand_computation():
    student = torch.tensor([[[[1.0, 0.0, 3.0]], [[0.0, 2.0, 0.0]]]])  # (1, 2, 1, 3)
    teacher = torch.tensor([[[[0.0, 0.0, 9.0]], [[1.0, 0.0, 0.0]]]])
    target = torch.tensor([[[0, 1, 255]]])
    T = 2.0

    def kl(s, t):
        ps = [math.exp(v / T) / sum(math.exp(u / T) for u in s) for v in s]
        pt = [math.exp(v / T) / sum(math.exp(u / T) for u in t) for v in t]
        return sum(b * math.log(b / a) for a, b in zip(ps, pt))

    hand = T * T * (kl([1.0, 0.0], [0.0, 1.0]) + kl([0.0, 2.0], [0.0, 0.0])) / 2  # the third pixel is ignored
    assert float(distill_loss(student, teacher, target, T, 255)) == pytest.approx(hand, rel=1e-6)
    assert float(distill_loss(student, student, target, T, 255)) == pytest.approx(0.0, abs=1e-7)


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("kw, match", [
    (dict(part_unfreeze_epoch={"neck": 2}), r"part_unfreeze_epoch: unknown model part 'neck'"),
    (dict(part_unfreeze_epoch={"ggca": 9}), r"part_unfreeze_epoch\['ggca'\]=9 must lie in \[1, UnFreeze_Epoch-1"),
    (dict(warm_start={"backbone": 3}), r"warm_start\['backbone'\]=3: give a run directory"),
    (dict(distill_weight=0.5), r"distill_from=None with distill_weight=0.5"),
    (dict(distill_from="runs/x", distill_weight=0.5, distill_temperature=0), r"distill_temperature=0.0"),
])
def test_bad_remedy_options_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(UnFreeze_Epoch=4, **kw)


def test_remedy_options_come_from_yaml_and_set_strings():
    cfg = TrainConfig.from_yaml("train:\n  zero_gate: 'true'\n  part_unfreeze_epoch: {ggca: 4, sff: 4, aspp: 4}\n")
    assert cfg.zero_gate is True and cfg.part_unfreeze_epoch == {"ggca": 4, "sff": 4, "aspp": 4}
    with pytest.raises(ValueError, match="zero_gate=True applies when train"):
        build_run_model(nn.Conv2d(3, 3, 1), TrainConfig(zero_gate=True), 3)


# ----------------------------------------------------------------------------- end to end
def tiny_cfg(**kw) -> TrainConfig:
    base = dict(model="deeplabv3plus", model_kwargs=tiny_kwargs(attn="ggca", fusion="sff2", aspp="msa_aspp"),
                input_shape=[64, 64], UnFreeze_Epoch=2, Unfreeze_batch_size=4, Init_lr=0.01, num_workers=0,
                max_train_batches=2, max_val_images=2, eval_period=1, save_period=1, seed=0, tensorboard=False)
    return TrainConfig(**{**base, **kw})


class Frozen(Callback):
    """Records, at each epoch start, the parts whose parameters do not train; can crash after an epoch."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.frozen, self.crash_after = {}, crash_after

    def on_epoch_start(self, state) -> None:
        self.frozen[state.epoch] = {p for p in PARTS if not any(q.requires_grad
                                                                 for _, q in part_parameters(state.model, p))}

    def on_epoch_end(self, state) -> None:
        if state.epoch == self.crash_after:
            raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def teacher_run(synthetic_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "plain"
    cfg = tiny_cfg(UnFreeze_Epoch=1, model_kwargs=tiny_kwargs(attn="ggca"))
    return train(None, cfg, synthetic_root, run, progress=False, verbose=False)


def test_every_remedy_trains_records_and_resumes(synthetic_root, teacher_run, tmp_path, capsys):
    cfg = tiny_cfg(zero_gate=True, warm_start={"backbone": str(teacher_run), "ggca": str(teacher_run)},
                   part_unfreeze_epoch={"ggca": 1, "sff": 1}, distill_from=str(teacher_run), distill_weight=0.5,
                   distill_temperature=2.0)
    run = tmp_path / "full"
    first = Frozen(crash_after=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(None, cfg, synthetic_root, run, progress=False, verbose=True, callbacks=[first])
    assert "[warm start] backbone: loaded" in capsys.readouterr().out
    assert first.frozen == {0: {"attention", "sff"}}
    report = json.loads((run / "warm_start.json").read_text())
    assert report["backbone"]["loaded"] == report["backbone"]["tensors"]
    after = Frozen()
    train(None, cfg, synthetic_root, run, progress=False, verbose=True, callbacks=[after], resume=True)
    assert "[warm start]" not in capsys.readouterr().out  # the checkpoint already holds the weights
    assert after.frozen == {1: set()}
    config = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("zero_gate", "warm_start", "part_unfreeze_epoch", "distill_from", "distill_weight",
                "distill_temperature"):
        assert config["train"][key] == getattr(cfg, key)
    assert config["model"]["kwargs"]["zero_gate"] is True
    fingerprint = json.loads((run / "fingerprint.json").read_text())
    assert {"distill_from", "warm_start.backbone", "warm_start.ggca"} <= set(fingerprint["weights"])
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["epoch"] == 2 and any(k.endswith("zero_gate") for k in state["model"])


def test_a_changed_remedy_is_a_resume_change(synthetic_root, teacher_run, tmp_path):
    run = tmp_path / "staged"
    cfg = tiny_cfg(part_unfreeze_epoch={"aspp": 1})
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(None, cfg, synthetic_root, run, progress=False, verbose=False, callbacks=[Frozen(crash_after=0)])
    train(None, cfg.replace(distill_from=str(teacher_run), distill_weight=1.0), synthetic_root, run,
          progress=False, verbose=False, resume=True)
    changes = yaml.safe_load((run / "config.yaml").read_text())["changes"][0]["changed"]
    assert any(c.startswith("distill_from") for c in changes) and any(c.startswith("distill_weight") for c in changes)
