"""Run identity and ownership: fingerprints decide reuse, the OS lock, resume with a changed config."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from segkit.engine import TrainConfig, train
from segkit.engine.checkpoint import load_checkpoint
from segkit.experiments import ensure_run
from segkit.runs import RunDir, RunLock, RunLockedError

from tiny_training import StopAfter, TinyNet, run_tiny, tiny_cfg


MODEL = "deeplabv3plus-mobilenetv2"


def quick_cfg(**kw) -> TrainConfig:
    base = dict(input_shape=[64, 64], UnFreeze_Epoch=1, Unfreeze_batch_size=4, num_workers=0, eval_period=1,
                max_train_batches=1, max_val_images=2, init_type="none", optimizer_type="adam", Init_lr=5e-4)
    base.update(kw)
    return TrainConfig(**base)


def logged(fn, *args, **kwargs) -> list[str]:
    lines: list[str] = []
    fn(*args, log=lines.append, progress=False, verbose=False, **kwargs)
    return lines


def test_identical_rerun_reuses_and_any_change_retrains_naming_it(synthetic_root, tmp_path):
    run = tmp_path / "runs" / "exp" / "m" / "seed0"
    first = logged(ensure_run, MODEL, quick_cfg(), synthetic_root, run, device="cpu")
    assert first[-1].startswith("training") and RunDir(run).is_complete()
    assert logged(ensure_run, MODEL, quick_cfg(), synthetic_root, run, device="cpu") == [
        f"reusing {run} (same config, model, data and code)"]

    changed = logged(ensure_run, MODEL, quick_cfg(UnFreeze_Epoch=2), synthetic_root, run, device="cpu")
    assert "UnFreeze_Epoch 1 -> 2" in changed[0] and "previous run is kept in" in changed[0]
    kept = list((run.parent / ".superseded").iterdir())
    assert len(kept) == 1 and RunDir(kept[0]).is_complete()  # earlier results are moved, never deleted
    assert len(RunDir(run).read_history()) == 2

    resized = logged(ensure_run, MODEL, quick_cfg(UnFreeze_Epoch=2, input_shape=[48, 48]), synthetic_root, run,
                     device="cpu")
    assert "input_shape [64, 64] -> [48, 48]" in resized[0]

    other = tmp_path / "other-data"
    shutil.copytree(synthetic_root, other)
    mask = sorted((other / "SegmentationClass").iterdir())[0]
    mask.write_bytes(mask.read_bytes() + b"\0")  # one changed file is enough
    moved = logged(ensure_run, MODEL, quick_cfg(UnFreeze_Epoch=2, input_shape=[48, 48]), other, run, device="cpu",
                   only_reuse=True)  # decided and moved aside as before; training it would test nothing more
    assert any("files changed" in c for c in moved[0].split("; "))
    assert len(list((run.parent / ".superseded").iterdir())) == 3


def test_an_identical_run_of_another_experiment_is_linked_not_trained(synthetic_root, tmp_path):
    root = tmp_path / "runs"
    logged(ensure_run, MODEL, quick_cfg(), synthetic_root, root / "a" / "m" / "seed0", device="cpu")
    lines = logged(ensure_run, MODEL, quick_cfg(), synthetic_root, root / "b" / "base" / "seed0", device="cpu",
                   share_root=root)
    assert lines == [f"reusing {root / 'a' / 'm' / 'seed0'} for {root / 'b' / 'base' / 'seed0'} (identical setup)"]
    a, b = (RunDir(root / x / n / "seed0").read_metrics() for x, n in (("a", "m"), ("b", "base")))
    assert a == b


def test_code_fingerprint_hashes_parts_that_exist_and_refuses_a_moved_one(monkeypatch):
    from segkit.engine import fingerprint

    assert all((fingerprint._SEGKIT / part).exists() for part in fingerprint._CODE_PARTS)
    monkeypatch.setattr(fingerprint, "_CODE_PARTS", ("losses_gone.py",))
    with pytest.raises(FileNotFoundError, match="losses_gone"):
        fingerprint.code_fingerprint.__wrapped__()  # past the per-process cache


def test_fingerprint_is_recorded_with_test_split_metrics_and_per_image_matrices(synthetic_root, tmp_path):
    from segkit.data import make_synthetic_wirerope

    root = make_synthetic_wirerope(tmp_path / "data", n_images=20, size=64, seed=1, test_fraction=0.2)
    run = RunDir(tmp_path / "run")
    train(MODEL, quick_cfg(max_val_images=None), root, run.path, progress=False, verbose=False, device="cpu")
    fp = run.read_fingerprint()
    assert set(fp) == {"train", "model", "weights", "data", "code"} and fp["data"]["test"]["n"] == 4
    metrics = run.read_metrics()
    assert metrics["split"] == "test" and metrics["selection_split"] == "val" and not metrics["on_selection_split"]
    cms, names = run.read_per_image()
    assert cms.shape == (4, 3, 3) and len(names) == 4
    assert cms.sum(0).tolist() == metrics["confusion_matrix"]  # per-image matrices sum to the reported one


def test_a_second_training_into_a_locked_run_fails_at_once_naming_the_holder(synthetic_root, tmp_path):
    run = tmp_path / "locked"
    marker = tmp_path / "holding"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import pathlib, time
from segkit.runs import RunDir
with RunDir({str(run)!r}).lock():
    pathlib.Path({str(marker)!r}).touch()
    time.sleep(60)
"""])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        with pytest.raises(RunLockedError, match=f"locked by PID {holder.pid} on .* wait for it"):
            run_tiny(synthetic_root, run)
        assert time.monotonic() - t0 < 10
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # the holder was killed: the OS released its lock, and the next training takes it over
    lines: list[str] = []
    torch.manual_seed(0)
    from segkit.engine import trainer

    orig = trainer.tqdm.write
    trainer.tqdm.write = lambda s, *a, **k: lines.append(s)
    try:
        train(TinyNet(), tiny_cfg(UnFreeze_Epoch=1), synthetic_root, run, progress=False, verbose=True)
    finally:
        trainer.tqdm.write = orig
    assert any(f"left by PID {holder.pid}" in ln for ln in lines)
    assert RunDir(run).lock_path.read_text() == ""  # released after training


def test_lock_is_exclusive_within_one_process_too(tmp_path):
    with RunLock(tmp_path / ".lock"):
        with pytest.raises(RunLockedError, match=r"locked by PID \d+"):
            RunLock(tmp_path / ".lock").acquire()
    RunLock(tmp_path / ".lock").acquire().release()


def test_resume_with_a_changed_config_keeps_config_yaml_current(synthetic_root, tmp_path):
    run = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_tiny(synthetic_root, run, callbacks=[StopAfter(epoch=0)])
    run_tiny(synthetic_root, run, cfg=tiny_cfg(UnFreeze_Epoch=3, Init_lr=0.05), resume=True)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["UnFreeze_Epoch"] == 3 and config["train"]["Init_lr"] == 0.05
    [change] = config["changes"]
    assert change["resumed_at_epoch"] == 1
    assert "UnFreeze_Epoch 2 -> 3" in change["changed"] and "Init_lr 0.1 -> 0.05" in change["changed"]
    history = RunDir(run).read_history()
    assert history["epoch"].tolist() == [1, 2, 3] and "Init_lr 0.1 -> 0.05" in history.loc[1, "changes"]
    fp = json.loads((run / "fingerprint.json").read_text())
    assert fp["train"]["UnFreeze_Epoch"] == 3 and fp["resumed_with_changes"]  # never equal to a fresh run's


def test_resume_with_another_model_or_class_count_says_what_the_checkpoint_holds(synthetic_root, tmp_path):
    run = tmp_path / "other"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_tiny(synthetic_root, run, callbacks=[StopAfter(epoch=0)])
    with pytest.raises(ValueError, match=r"was trained with model '.*TinyNet' for 3 classes; this run asks for "
                                         r"'deeplabv3plus-mobilenetv2' with 3 classes"):
        train(MODEL, quick_cfg(), synthetic_root, run, resume=True, progress=False, verbose=False)


def test_leftover_temp_files_of_a_killed_save_are_removed_and_a_full_disk_is_one_line(synthetic_root, tmp_path,
                                                                                      monkeypatch):
    run = tmp_path / "tmpfiles"
    (run / "checkpoints").mkdir(parents=True)
    (run / RunDir.MARKER).touch()  # a run segkit started
    dead = run / "checkpoints" / ".last.pt.tmp-999999999"
    dead.write_bytes(b"x" * 1000)
    run_tiny(synthetic_root, run, cfg=tiny_cfg(UnFreeze_Epoch=1))
    assert not dead.exists()

    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match=r"run directory .* is not writable \(No space left on device\); free disk"):
        run_tiny(synthetic_root, tmp_path / "full")
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
