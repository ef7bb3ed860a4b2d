"""Executors: a grid trained as Slurm jobs (submitit's local cluster) equals the local one, after a preemption."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from segkit.experiments import run_experiment, train_config
from segkit.experiments.executors import SlurmExecutor, gpu_slots, make_executor, parse_mem, parse_time
from segkit.runs import RunDir

REPO = Path(__file__).resolve().parents[2]
ENTRIES = ["deeplabv3plus-mobilenetv2",
           {"name": "se", "model": "deeplabv3plus-mobilenetv2", "model_kwargs": {"attn": "se", "attn_policy": "paper"}}]
# submitit's local cluster: the same submission code, one process per job on this machine
LOCAL_CLUSTER = {"cluster": "local", "gpus": 0, "cpus": 1, "mem": None, "time": 20, "poll_s": 0.2}


def _cfg(epochs: int = 3):
    return train_config("quick", epochs=epochs, batch_size=4, image_size=64, smoke=True, num_workers=0, seed=0)


def _preempt_after_first_epoch(run_dir: Path, sent: list[int], timeout: float = 300.0) -> None:
    """Send Slurm's preemption signal (SIGUSR2) to the process training into `run_dir` once epoch 1 is saved."""
    rd, end = RunDir(run_dir), time.monotonic() + timeout
    while time.monotonic() < end and not sent:
        if rd.has_last() and rd.lock_path.is_file():
            holder = rd.lock_path.read_text(encoding="utf-8").strip()
            if holder:  # the trainer writes its PID into the lock it holds
                pid = int(json.loads(holder)["pid"])
                os.kill(pid, signal.SIGUSR2)
                sent.append(pid)
                return
        time.sleep(0.02)


@pytest.mark.slow
def test_slurm_jobs_resume_after_preemption_and_give_the_local_tables(synthetic_root, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread, as every Slurm job here (cpus=1): the same float order
    try:  # the reference, in this process (two local processes: tests/report/test_report.py)
        local = run_experiment(ENTRIES, "grid", _cfg(), synthetic_root, tmp_path / "local", device="cpu",
                               bench_runs=1, log=None)
    finally:
        torch.set_num_threads(threads)

    victim = tmp_path / "slurm" / "grid" / "se" / "seed0"
    sent: list[int] = []
    killer = threading.Thread(target=_preempt_after_first_epoch, args=(victim, sent), daemon=True)
    killer.start()
    lines: list[str] = []
    slurm = run_experiment(ENTRIES, "grid", _cfg(), synthetic_root, tmp_path / "slurm", device="cpu", bench_runs=1,
                           log=lines.append, executor="slurm", executor_options=LOCAL_CLUSTER)
    killer.join(timeout=5)
    assert sent, "the victim's training was never seen running"
    assert any(ln.startswith("submitted 2 run(s) as local job(s)") for ln in lines), lines
    # the requeued job found last.pt and resumed there; the other job trained straight through
    resumed = [ln for ln in lines if ln.startswith("resuming")]
    assert len(resumed) == 1 and str(victim) in resumed[0], lines
    assert re.search(r"from its last\.pt \([12] of 3 epochs done\)", resumed[0]), resumed
    logs = "".join(p.read_text() for p in (tmp_path / "slurm" / ".slurm").rglob("*_log.out"))
    assert "requeued, the new job resumes from its last.pt" in logs
    assert len(RunDir(victim).read_history()) == 3

    # the tables are the same whichever executor trained the runs (FPS is a timing, measured afresh)
    cols = ["Model", "mIoU(%)", "mIoU(%) std", "F1 Score(%)", "F1 Score(%) std", "Parameter(M)", "GFLOPs", "n"]
    pd.testing.assert_frame_equal(slurm.table[cols], local.table[cols])
    for name in ("deeplabv3plus-mobilenetv2", "se"):
        a, b = (RunDir(tmp_path / d / "grid" / name / "seed0").read_metrics() for d in ("local", "slurm"))
        assert a["miou"] == b["miou"] and a["confusion_matrix"] == b["confusion_matrix"]

    # a second report submits nothing: complete runs are reused in the submitting process
    lines.clear()
    run_experiment(ENTRIES, "grid", _cfg(), synthetic_root, tmp_path / "slurm", device="cpu", bench_runs=1,
                   log=lines.append, executor="slurm", executor_options=LOCAL_CLUSTER)
    assert [ln.split()[0] for ln in lines] == ["reusing", "reusing"], lines


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_failed_slurm_job_names_its_run_the_error_and_its_log(synthetic_root, tmp_path):
    ex = make_executor("slurm", LOCAL_CLUSTER, runs_dir=tmp_path)
    with pytest.raises(RuntimeError) as err:  # a GPU recipe sent to CPU-only nodes
        run_experiment(ENTRIES[:1], "gpu", _cfg(1), synthetic_root, tmp_path, device="cuda", log=None, executor=ex)
    msg = str(err.value)
    assert msg.startswith("1 of 1 job(s) failed") and str(tmp_path / "gpu" / ENTRIES[0] / "seed0") in msg
    assert "CUDA is not available" in msg and "_log.err" in msg and "resume" in msg


def test_slurm_options_are_checked_and_read_like_sbatch():
    assert [parse_time(v) for v in (90, "90", "12:00:00", "1-00:00", "2-12", "30:30")] == [90, 90, 720, 1440, 3600, 31]
    assert [parse_mem(v) for v in (32, "32G", "64GB", "512M")] == [32.0, 32.0, 64.0, 0.5]
    with pytest.raises(ValueError, match=r"time='12h' is not a time limit; give minutes"):
        parse_time("12h")
    with pytest.raises(ValueError, match=r"mem='lots'"):
        parse_mem("lots")
    with pytest.raises(ValueError, match=r"gpus=4: a grid job trains one run on one GPU.*torchrun"):
        SlurmExecutor(gpus=4)
    with pytest.raises(ValueError, match=r"slurm options \['gpu'\] are unknown; allowed: \[.*'gpus'"):
        make_executor("slurm", {"gpu": 1})
    with pytest.raises(ValueError, match=r"executor='k8s' is unknown; choose one of \['local', 'slurm'\]"):
        make_executor("k8s")
    ex = make_executor("slurm", {"partition": "gpu", "time": "1-00:00", "mem": "64G"}, runs_dir="runs/x")
    assert (ex.partition, ex.timeout_min, ex.mem_gb, Path(ex.folder)) == ("gpu", 1440, 64.0, Path("runs/x/.slurm"))


def test_local_workers_take_turns_on_the_gpus():
    assert gpu_slots(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert gpu_slots(3, ["2", "5", "7"]) == ["2", "5", "7"]
    assert gpu_slots(2, ["0"]) == [] and gpu_slots(2, []) == []  # one GPU or none: nothing to pin


def _segkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": os.path.dirname(sys.executable)}  # no sbatch on PATH
    return subprocess.run([sys.executable, "-m", "segkit", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_report_command_checks_the_slurm_settings_before_running_anything(tmp_path, capsys, monkeypatch):
    res = _segkit("report", "--executor", "slurm", "--time", "2:00:00", cwd=tmp_path)
    assert res.returncode == 1 and res.stderr.strip() == (
        "segkit report: error: the slurm executor found no Slurm here (sbatch is not on PATH); run this on the "
        "cluster's login node, or set cluster: local to run the jobs on this machine")
    from segkit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["report", "--partition", "gpu"]) == 1
    assert "--partition apply to Slurm jobs; add --executor slurm" in capsys.readouterr().err
    profile = tmp_path / "mine.yaml"  # the profile's report: slurm: section is read and checked too
    profile.write_text("train: {}\nreport:\n  slurm: {partition: gpu, gpu: 1}\nnotebooks: {all: {}}\n")
    assert main(["report", "--profile", str(profile), "--executor", "slurm"]) == 1
    assert "slurm options ['gpu'] are unknown" in capsys.readouterr().err
    assert not (tmp_path / "data").exists() and not (tmp_path / "reports").exists()  # it stopped before any work
