"""A model as data: build_model records its spec, stitch.insert extends it, and every command
rebuilds a stitched run from config.yaml (Python API, YAML model_kwargs and the CLI)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from segkit import stitch
from segkit.engine import TrainConfig, load_run, train
from segkit.models import build_from_spec, build_model
from segkit.models._spec import parse_insert, spec_problem
from segkit.modules.cbam import CBAM

REPO = Path(__file__).resolve().parents[2]


def test_spec_records_build_and_stitches_and_rebuilds_the_same_network():
    torch.manual_seed(0)
    m = build_model("deeplabv3plus-mobilenetv2", num_classes=2, aspp_dim=64)
    stitch.insert(m, "backbone.features.7", "cbam", reduction=8)
    stitch.insert(m, "backbone.features.3", CBAM, "before")  # an importable class is recorded by its path
    spec = m.segkit_spec
    assert spec["name"] == "deeplabv3plus-mobilenetv2" and spec["kwargs"] == {"num_classes": 2, "aspp_dim": 64}
    assert spec["pretrained"] is None
    assert spec["stitches"] == [
        {"at": "backbone.features.7", "where": "after", "module": "cbam", "kwargs": {"reduction": 8}},
        {"at": "backbone.features.3", "where": "before", "module": "segkit.modules.cbam:CBAM", "kwargs": {}},
    ]
    again = build_from_spec(yaml.safe_load(yaml.safe_dump(spec)))  # through YAML, as config.yaml holds it
    assert again.segkit_spec == spec
    again.load_state_dict(m.state_dict())  # strict: the same modules at the same paths
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x), m.eval()(x))


def test_stitches_argument_and_unrecordable_modules():
    m = build_model("deeplabv3plus-mobilenetv2", stitches=[{"at": "backbone.features.5", "module": "se"}])
    assert type(m.backbone.features[5]).__name__ == "Stitched"
    assert m.segkit_spec["stitches"][0]["where"] == "after"
    with pytest.raises(ValueError, match="unknown key"):
        build_model("deeplabv3plus-mobilenetv2", stitches=[{"at": "backbone.features.5", "module": "se", "x": 1}])
    stitch.insert(m, "backbone.features.9", CBAM(64))  # a ready instance cannot be rebuilt from data
    assert "stitch a registered name" in spec_problem(m.segkit_spec)

    class Mine(CBAM):  # nor an unregistered class: a spec never imports a path
        pass

    m = build_model("deeplabv3plus-mobilenetv2")
    stitch.insert(m, "backbone.features.9", Mine)
    assert "Mine, which is not registered" in spec_problem(m.segkit_spec)


def test_parse_insert():
    assert parse_insert("backbone.features.7=cbam") == {"at": "backbone.features.7", "where": "after",
                                                        "module": "cbam"}
    assert parse_insert("backbone.features.7=se:before")["where"] == "before"
    assert parse_insert("aspp.branch1=eca:replace")["where"] == "replace"
    with pytest.raises(ValueError, match="PATH=MODULE"):
        parse_insert("backbone.features.7=cbam:inside")


def _quick(**kw) -> TrainConfig:
    return TrainConfig.profile("quick", UnFreeze_Epoch=1, input_shape=[64, 64], num_workers=0,
                               Unfreeze_batch_size=4, max_train_batches=1, max_val_images=2, **kw)


def test_yaml_stitches_train_and_reload(synthetic_root, tmp_path):
    cfg = _quick(model="deeplabv3plus-mobilenetv2",
                 model_kwargs={"stitches": [{"at": "backbone.features.7", "module": "cbam"}]})
    cfg = TrainConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))  # as a YAML file gives it
    run = train(None, cfg, synthetic_root, tmp_path / "run", device="cpu", progress=False, verbose=False)
    model, config, _, _ = load_run(run)
    assert config["model"]["stitches"][0]["module"] == "cbam"
    assert type(model.backbone.features[7]).__name__ == "Stitched"
    state = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["model"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k], msg=k)


def test_a_stitched_instance_trains_and_reloads(synthetic_root, tmp_path):
    net = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    stitch.insert(net, "backbone.features.11", "eca")
    run = train(net, _quick(), synthetic_root, tmp_path / "run", device="cpu", progress=False, verbose=False)
    model, config, _, _ = load_run(run)  # no model= needed any more
    assert config["model"]["name"] == "deeplabv3plus-mobilenetv2" and config["model"]["class"].endswith("DeepLabV3Plus")
    assert model.state_dict().keys() == net.state_dict().keys()
    # the train: record names the network trained, not the profile's default model (fc-hardnet-70)
    assert config["train"]["model"] == "deeplabv3plus-mobilenetv2" != _quick().model

    custom = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    stitch.insert(custom, "backbone.features.11", CBAM(96))
    run2 = train(custom, _quick(), synthetic_root, tmp_path / "run2", device="cpu", progress=False, verbose=False)
    with pytest.raises(ValueError, match="stitch a registered name .* pass model="):
        load_run(run2)


@pytest.mark.slow
def test_cli_stitched_run_passes_evaluate_predict_export(synthetic_root, tmp_path, capsys):
    from segkit.cli import main

    def segkit(*args: str) -> str:  # in this process: the entry point itself is tested in tests/commands
        code = main(list(args))
        out = capsys.readouterr()
        assert code == 0, out.err[-3000:]
        return out.out

    run = tmp_path / "runs" / "cbam"
    segkit("train", "--data-root", str(synthetic_root), "--run-dir", str(run), "--epochs", "1", "--no-progress",
           "--model", "deeplabv3plus-mobilenetv2", "--insert", "backbone.features.7=cbam", "--insert", "backbone.features.3=se:before",
           "--set", "input_shape=[64, 64]", "--set", "num_workers=0", "--set", "Unfreeze_batch_size=4",
           "--set", "max_train_batches=2", "--set", "max_val_images=4")
    stitches = yaml.safe_load((run / "config.yaml").read_text())["model"]["stitches"]
    assert [(s["at"], s["where"], s["module"]) for s in stitches] == [
        ("backbone.features.7", "after", "cbam"), ("backbone.features.3", "before", "se")]
    segkit("evaluate", str(run), "--device", "cpu", "--no-progress", "--max-images", "4", "--json",
           str(tmp_path / "m.json"))
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert 0.0 <= metrics["miou"] <= 1.0
    img = sorted((Path(synthetic_root) / "JPEGImages").iterdir())[0]
    segkit("predict", str(run), str(img), "--out", str(tmp_path / "pred"), "--device", "cpu", "--no-progress")
    assert (tmp_path / "pred" / f"{img.stem}.png").is_file()
    out = segkit("export-onnx", str(run), "--out", str(tmp_path / "m.onnx"))
    assert json.loads(out[out.index("{"):])["label_agreement"] > 0.999
