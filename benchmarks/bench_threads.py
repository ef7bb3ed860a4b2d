"""Training throughput under thread and loader-worker choices, side by side, on this machine.

Each choice trains the quick profile's model for the same wall-time budget in its own process
(so its thread settings are its own) and reports the optimiser steps it got. The choices:
torch's defaults with the quick profile's former 2 loader workers, segkit's plan
(`segkit.runtime.threads`), one thread with no workers, and the plan's threads with 2 workers.

    python benchmarks/bench_threads.py --seconds 40 --repeats 3

Say which CPU it ran on (`lscpu | grep -o 'avx512_bf16\\|avx2' | sort -u`): `precision: auto`
trains in bf16 on CPUs with native bf16 and in fp32 elsewhere (pass --precision fp32 to compare).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, torch
from segkit.engine import TrainConfig, train
from segkit.runtime.threads import apply_threads, plan_threads
data, run, threads, workers, seconds, precision = sys.argv[1:7]
if threads == "plan":
    plan = plan_threads("cpu", workers=workers if workers == "auto" else int(workers))
    apply_threads(plan)
elif threads != "default":
    torch.set_num_threads(int(threads))
cfg = TrainConfig.profile("quick", UnFreeze_Epoch=10000, time_limit=float(seconds), precision=precision,
                          num_workers=workers if workers == "auto" else int(workers), eval_period=10000)
train(None, cfg, data, run, device="cpu", progress=False, verbose=False)
print(json.dumps({"steps": json.load(open(run + "/budget.json"))["steps"], "threads": torch.get_num_threads()}))
"""

CHOICES = {  # name: (torch threads, loader workers)
    "torch defaults, 2 workers (before)": ("default", "2"),
    "segkit plan (auto)": ("plan", "auto"),
    "1 thread, no workers": ("1", "0"),
    "plan threads, 2 workers": ("plan", "2"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=40.0, help="wall-time budget of each run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    from segkit.data import make_synthetic_wirerope

    with tempfile.TemporaryDirectory() as tmp:
        data = make_synthetic_wirerope(Path(tmp) / "data", n_images=200, size=64, seed=0, test_fraction=0.2)
        steps: dict[str, list[int]] = {name: [] for name in CHOICES}
        for r in range(args.repeats):  # interleaved, so a change in the machine's load hits every choice
            for name, (threads, workers) in CHOICES.items():
                run = str(Path(tmp) / f"run-{r}-{len(steps[name])}-{threads}-{workers}")
                out = subprocess.run([sys.executable, "-c", CHILD, str(data), run, threads, workers,
                                      str(args.seconds), args.precision], capture_output=True, text=True, check=True)
                steps[name].append(json.loads(out.stdout.strip().splitlines()[-1])["steps"])
        base = statistics.median(steps["torch defaults, 2 workers (before)"])
        print(f"| choice | steps in {args.seconds:g} s (median of {args.repeats}) | vs before |")
        print("|---|---|---|")
        for name, got in steps.items():
            med = statistics.median(got)
            print(f"| {name} | {med:g} ({', '.join(map(str, got))}) | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
