"""The `segkit` command: version, info, help, and error handling."""
from __future__ import annotations

import subprocess
import sys

import pytest

import segkit
from segkit.cli import build_parser, main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"segkit {segkit.__version__}"


def test_info_lists_versions_and_threads(capsys):
    import torch

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"torch                {torch.__version__}" in out or torch.__version__ in out
    assert "cuda available" in out and "cpu threads" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "info" in sub.choices
    for name, p in sub.choices.items():
        assert p.format_help(), name


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "segkit", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == f"segkit {segkit.__version__}"


def test_top_level_api_resolves_every_export():
    for name in segkit.__all__:
        assert getattr(segkit, name) is not None, name


def test_building_the_parser_imports_no_torch():
    """`segkit --help` must answer at once: the command modules import the library lazily."""
    code = ("import sys; from segkit.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'numpy', 'pandas', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)



def test_a_wrong_recipe_or_path_is_answered_before_torch_is_imported(tmp_path):
    """A typo in --set or a missing dataset folder: the one-line error comes in a fraction of a
    second, not after importing torch (the config, the dataset files and `segkit data` tools need none)."""
    (tmp_path / "empty").mkdir()
    cases = [(["train", "--data-root", "d", "--run-dir", "r", "--set", "seed=1.5"], "TrainConfig.seed=1.5"),
             (["train", "--data-root", "missing", "--run-dir", "r"], "dataset root missing does not exist"),
             (["data", "stats", "missing"], "dataset root missing does not exist"),
             (["data", "check", "empty"], "error(s)")]
    for argv, said in cases:
        code = ("import sys; from segkit.cli import main; rc = main(sys.argv[1:]); "
                "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
        res = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, capture_output=True, text=True)
        assert res.returncode == 1 and said in res.stdout + res.stderr, (argv, res.stdout[-500:], res.stderr[-500:])

# ----------------------------------------------------------------------------- help, listings, cam classes


def _subparsers(parser, path=("segkit",)):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


def test_every_subcommand_has_a_description_and_help_shows_defaults():
    parser = build_parser()
    found = dict(_subparsers(parser))
    assert {("segkit", "models"), ("segkit", "modules"), ("segkit", "data", "split"), ("segkit", "cam")} <= set(found)
    for path, sub in found.items():
        assert sub.description, f"{' '.join(path)} has no description"
    train = " ".join(found[("segkit", "train")].format_help().split())
    assert "(default: quick)" in train  # --profile
    assert "--set 'input_shape=[96,96]'" in train and "how many times training goes through all training images" in train
    assert "(default: best)" in " ".join(found[("segkit", "evaluate")].format_help().split())  # --checkpoint
    split = found[("segkit", "data", "split")].format_help()
    assert "\n  segkit data split data/mine --ratio 8:1:1\n" in split  # an example keeps its own line
    split = " ".join(split.split())
    assert "(default: 9:1)" in split
    assert "(default: None)" not in "".join(sub.format_help() for sub in found.values())
    assert "segkit cam runs/mine/mbv2" in parser.format_help()  # the own-data workflow on the first screen


def test_set_takes_a_yaml_list_as_in_the_help_example():
    from segkit._utils import parse_key_values
    from segkit.engine import TrainConfig

    sets = parse_key_values(["input_shape=[96,96]", "Init_lr=1e-3"])
    assert sets["input_shape"] == [96, 96]
    cfg = TrainConfig.profile("quick", **sets)
    assert cfg.input_shape == [96, 96] and cfg.Init_lr == 0.001


def test_models_and_modules_list_what_exists(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "sff-wadeeplab" in out and "improved-mobilenetv2" in out and "unetplusplus" in out
    assert "2018" in out and "2018.0" not in out and "<NA>" not in out and "NaN" not in out
    assert main(["models", "--family", "unet"]) == 0
    rows = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[1:] if ln.strip() and not ln.startswith("3 ")]
    assert rows[:3] == ["unet", "unet3plus", "unetplusplus"]
    assert main(["models", "--family", "deeplabv3"]) == 1  # one family name for the whole DeepLab line
    assert "families: deeplab," in capsys.readouterr().err
    assert main(["modules"]) == 0
    out = capsys.readouterr().out
    assert "cbam" in out and "ggca" in out and " 2018 " in out and "2018.0" not in out and "15 modules" in out


def test_zoo_prints_integer_years_and_no_empty_latency_column(capsys):
    assert main(["zoo", "deeplabv3-r50", "unet", "--no-latency", "--size", "64"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert "cpu_ms" not in header and "year" in header
    years = {ln.split()[0]: ln.split()[2] for ln in out.split("\n\n")[0].splitlines()[1:]}
    assert years == {"deeplabv3-r50": "2017", "unet": "2015"}
    assert "None" not in out and "deeplab " in out and "deeplabv3 " not in out.replace("deeplabv3-r50", "")


def test_cam_takes_class_names(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    img = tmp_path / "rope.png"
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(img)
    names = "background,corrosion,broken_wire"
    common = ["cam", "deeplabv3plus-mobilenetv2", str(img), "--num-classes", "3", "--class-names", names,
              "--size", "64", "--out", str(tmp_path / "cam.png")]
    assert main([*common, "--classes", "broken_wire,1"]) == 0
    assert (tmp_path / "cam.png").stat().st_size > 1000
    capsys.readouterr()
    assert main([*common, "--classes", "road,car"]) == 1
    err = capsys.readouterr().err
    assert "'road' is not a class of this model" in err and "0=background, 1=corrosion, 2=broken_wire" in err
    assert "e.g. --classes corrosion,broken_wire" in err and "512" not in err


def test_train_time_limit_bounds_the_whole_command(synthetic_root, tmp_path):
    """`--set time_limit=S`: the command returns within S seconds and about one step, importing
    torch, setting up, validation and the final evaluation included."""
    import json
    import time

    limit, run = 12.0, tmp_path / "run"  # setup (torch, dynamo) ~5 s, then steps of ~0.3 s
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "segkit", "train", "--profile", "quick", "--data-root",
                          str(synthetic_root), "--run-dir", str(run), "--no-progress", "--set", f"time_limit={limit}",
                          "--set", "num_workers=0", "--set", "precision=fp32", "--epochs", "1000"],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    record = json.loads((run / "budget.json").read_text())
    assert record["stopped_by"] == "time" and record["steps"] >= 1
    step = record["seconds_per_step"]
    if record["setup_seconds"] + 2 * step > limit:  # the budget was spent before training could start
        pytest.skip(f"machine too busy to test a {limit:g} s budget: setting up took {record['setup_seconds']:.0f} s")
    # a busy machine (the other test worker): a step can take twice the mean, and the final
    # evaluation's estimate comes from one timed image; before the budget covered the command,
    # time_limit=90 took 320 s
    assert wall <= limit + 3 * step + 3.0, (wall, record)
    assert "Time budget" not in res.stdout and "scoring best.pt on the val split" in res.stdout
