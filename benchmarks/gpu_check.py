"""GPU check: does segkit's GPU path work on this GPU, and how fast is it? A few minutes.

    python benchmarks/gpu_check.py --out gpu_check          # on a machine with an NVIDIA GPU

Sections (each writes into ``--out`` as it finishes, so a stopped run keeps what it measured):

1. ``info``: ``segkit info`` and the driver (nvidia-smi).
2. ``tests``: the ``cuda``-marked tests (tests/runtime/test_cuda.py), while the synthetic data is made.
3. ``train``: the paper profile (DeepLabV3+-MobileNetV2, SGD, focal + Dice, 512x512) on the
   synthetic set for a few hundred steps at batch 8 and at the reference batch 2, in fp32, in
   ``auto`` (bf16 or fp16 + channels_last), fp16 + GradScaler, and a second fp32 seed as the
   noise reference of the loss curves. Per run: median step time, the share of the step spent
   waiting for the data loader, the GPU memory peak after the first epoch (the first holds
   cuDNN's autotuning), the loss curve; and the model-only step (forward, backward, SGD on one
   resident batch, no data loading or per-step synchronisation) it is compared with.
4. ``bench``: ``segkit bench`` of the seven backbones of the paper's Table 1 at 512x512, batch 1,
   warm-up and CUDA synchronisation, beside the paper's FPS (measured on another, unnamed GPU).
5. ``ddp``: ``torchrun --nproc-per-node 1 -m segkit train`` (NCCL process group, DDP wrapper).
6. ``resume``: a run stopped mid-epoch and resumed from ``last.pt`` against an uninterrupted one
   (the per-step losses), with two uninterrupted runs as the noise floor.
7. ``loader``: images per second of the training loader at 512x512 for several worker counts.

Writes ``results.json``, ``summary.md``, ``loss_curves.png`` and ``bench.json`` into ``--out``.
``--smoke`` runs everything tiny (64x64, a few steps; CPU allowed) to check the script itself.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
TABLE1 = [  # (registered model, the paper's row label)
    ("deeplabv3plus-xception", "Xception"), ("deeplabv3plus-vgg16", "VGG16"),
    ("deeplabv3plus-mobilenetv2", "MobileNetV2"), ("improved-mobilenetv2", "Improved MobileNetV2"),
    ("deeplabv3plus-mobilenetv4", "MobileNetV4"), ("deeplabv3plus-swinv2", "Swin Transformerv2"),
    ("deeplabv3plus-mobilevit", "MobileViT"),
]
# (name, batch, precision, channels_last, seed)
TRAIN_RUNS = [
    ("b8-fp32", 8, "fp32", False, 11), ("b8-auto", 8, "auto", "auto", 11), ("b8-fp16", 8, "fp16", "auto", 11), ("b8-fp32-seed12", 8, "fp32", False, 12),
    ("b2-fp32", 2, "fp32", False, 11), ("b2-auto", 2, "auto", "auto", 11),
]


def say(*parts: object) -> None:
    print(*parts, flush=True)


class Results:
    """results.json, rewritten after every section."""

    def __init__(self, out: Path) -> None:
        self.out, self.data = out, {}

    def put(self, key: str, value: object) -> None:
        self.data[key] = value
        (self.out / "results.json").write_text(json.dumps(self.data, indent=1, default=str))


def run_cmd(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[int, str]:
    """Run a command; (exit code, its output). Prints the output's tail."""
    say("$", " ".join(cmd))
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                           env={**os.environ, **(env or {})})
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = 124, f"timed out after {timeout} s\n{exc.stdout or ''}{exc.stderr or ''}"
    except OSError as exc:  # the program is missing (nvidia-smi on a machine without the driver)
        rc, out = 127, str(exc)
    say(out[-2500:].rstrip(), f"\n[rc {rc}, {time.perf_counter() - t0:.0f} s]")
    return rc, out


# ---------------------------------------------------------------------------------------- sections
def section_info(res: Results) -> None:
    _, info = run_cmd([sys.executable, "-m", "segkit", "info"], 120)
    _, smi = run_cmd(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                      "--format=csv,noheader"], 30)
    res.put("info", {"segkit_info": info.strip(), "nvidia_smi": smi.strip(), "torch": torch.__version__,
                     "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                     "tf32_conv": torch.backends.cudnn.allow_tf32,
                     "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "cpus": os.cpu_count()})


def section_tests(res: Results) -> None:
    rc, out = run_cmd([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
                       "tests/runtime/test_cuda.py"], 400)
    res.put("tests", {"rc": rc, "tail": out[-1500:]})


def make_data(root: str | Path, n: int | str, size: int | str) -> Path:
    from segkit.data import make_synthetic_wirerope

    n, size = int(n), int(size)
    t0 = time.perf_counter()
    make_synthetic_wirerope(root, n_images=n, size=size, seed=0, test_fraction=0.1)
    say(f"synthetic data: {n} images at {size}x{size} in {time.perf_counter() - t0:.0f} s")
    return root


class StepClock:
    """Per-step wall times and losses, and each epoch's data-loader wait (a segkit callback)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float, float]] = []  # (epoch, time, loss)
        self.wait: list[float] = []
        self.first_wait: list[float] = []  # the part of `wait` spent on each epoch's first batch
        self.epoch_start: list[float] = []

        self.first_epoch_peak_gb: float | None = None

    def on_epoch_start(self, state) -> None:
        self.epoch_start.append(time.perf_counter())
        if len(self.epoch_start) == 2 and torch.cuda.is_available():
            # the first epoch's peak holds cuDNN's autotuning workspaces (tens of GiB on a large GPU);
            # what training needs is the peak of the later epochs
            self.first_epoch_peak_gb = torch.cuda.max_memory_allocated() / 2**30
            torch.cuda.reset_peak_memory_stats()

    def on_step_end(self, state) -> None:  # loss.item() already synchronised the device
        self.steps.append((state.epoch, time.perf_counter(), state.loss))

    def on_epoch_end(self, state) -> None:
        self.wait.append(state.data_wait)
        self.first_wait.append(state.first_batch_wait or 0.0)


def step_stats(clock: StepClock) -> dict:
    """Median / p90 step time over every epoch but the first (cuDNN autotuning, first allocations),
    each epoch's first step left out (it includes the loader's start); the data-wait share."""
    by_epoch: dict[int, list[float]] = {}
    for e, t, _ in clock.steps:
        by_epoch.setdefault(e, []).append(t)
    later = [e for e in sorted(by_epoch) if e != min(by_epoch)] or sorted(by_epoch)
    dts = [b - a for e in later for a, b in zip(by_epoch[e], by_epoch[e][1:])]
    train_time = sum(by_epoch[e][-1] - clock.epoch_start[i] for i, e in enumerate(sorted(by_epoch)))
    return {"step_ms_median": 1e3 * statistics.median(dts), "step_ms_p90": 1e3 * float(np.percentile(dts, 90)),
            "data_wait_share": sum(clock.wait) / train_time, "train_seconds": train_time,
            "loader_start_share": sum(clock.first_wait) / train_time,
            "steps": len(clock.steps)}


def model_only_ms(batch: int, size: int, precision: str, channels_last, device: str) -> float:
    """Forward + backward + SGD of the paper model on one resident batch, timed with CUDA events
    (no data loading, no per-step synchronisation): what a step could cost."""
    from segkit.runtime.precision import resolve_precision
    from segkit.losses import SegLoss
    from segkit.models import build_model

    net = build_model("deeplabv3plus-mobilenetv2", num_classes=3).to(device).train()
    prec = resolve_precision(precision, channels_last, device, net)
    if prec.channels_last:
        net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=prec.scaler)
    loss_fn = SegLoss(3, focal_loss=True, dice_loss=True, cls_weights=[1, 2, 3]).to(device)
    x = prec.input(torch.rand(batch, 3, size, size, device=device))
    y = torch.randint(0, 3, (batch, size, size), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with prec.autocast():
            out = net(x)
        scaler.scale(loss_fn(out.float(), y)).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(5):
        step()
    return _timed(step, 20, device)


def _timed(fn, n: int, device: str) -> float:
    if not str(device).startswith("cuda"):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return 1e3 * (time.perf_counter() - t0) / n
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    a.record()
    for _ in range(n):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / n


def train_one(root: Path, out: Path, name: str, batch: int, precision: str, channels_last, seed: int,
              epochs: int, args) -> dict:
    from segkit.engine import TrainConfig, load_run, train

    cfg = TrainConfig.profile("paper").replace(
        UnFreeze_Epoch=epochs, Unfreeze_batch_size=batch, precision=precision, channels_last=channels_last,
        seed=seed, input_shape=[args.size, args.size], eval_flag=False, save_period=1000, device=args.device)
    clock = StepClock()
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    rd = train(None, cfg, root, out / "runs" / name, callbacks=[clock], progress=False, verbose=False)
    wall = time.perf_counter() - t0
    r = load_run(rd)
    row = {"name": name, "batch": batch, **step_stats(clock), "wall_seconds": wall,
           "precision": r.config["precision"], "test_miou": r.metrics.get("miou"), "epoch_wait": clock.wait,
           "losses": [s[2] for s in clock.steps], "epoch_loss": list(r.history["train_loss"])}
    if args.device.startswith("cuda"):
        row["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 2**30  # epochs 2.. and the final evaluation
        row["first_epoch_peak_gb"] = clock.first_epoch_peak_gb
    row["model_only_ms"] = model_only_ms(batch, args.size, precision, channels_last, args.device)
    row["images_per_s"] = 1e3 * batch / row["step_ms_median"]
    say(f"{name}: step {row['step_ms_median']:.1f} ms median (p90 {row['step_ms_p90']:.1f}), model-only "
        f"{row['model_only_ms']:.1f} ms, data wait {100 * row['data_wait_share']:.1f} % (loader starts "
        f"{100 * row['loader_start_share']:.1f} %), "
        f"peak {row.get('peak_mem_gb', float('nan')):.2f} GiB, {r.config['precision']['precision']}"
        f"{' + channels_last' if r.config['precision']['channels_last'] else ''}, final epoch loss "
        f"{row['epoch_loss'][-1]:.4f}")
    return row


def section_train(res: Results, root: Path, out: Path, args) -> list[dict]:
    rows = []
    for name, batch, precision, cl, seed in TRAIN_RUNS:
        epochs = args.epochs8 if batch == 8 else args.epochs2
        try:
            rows.append(train_one(root, out, name, batch, precision, cl, seed, epochs, args))
        except Exception as exc:  # one failing configuration must not hide the others
            say(f"{name}: FAILED {type(exc).__name__}: {exc}")
            rows.append({"name": name, "error": f"{type(exc).__name__}: {exc}"})
        res.put("train", rows)
    return rows


def curve_gap(a: list[float], b: list[float], window: int) -> float:
    """Mean |difference| of two loss curves smoothed over `window` steps."""
    n = min(len(a), len(b))
    k = np.ones(window) / window
    sa, sb = (np.convolve(np.asarray(v[:n]), k, mode="valid") for v in (a, b))
    return float(np.mean(np.abs(sa - sb)))


def compare_curves(rows: list[dict], window: int) -> dict:
    by = {r["name"]: r for r in rows if "losses" in r}
    out = {}
    ref = by.get("b8-fp32")
    for other in ("b8-auto", "b8-fp16", "b8-fp32-seed12"):
        if ref and other in by:
            out[f"b8-fp32 vs {other}"] = curve_gap(ref["losses"], by[other]["losses"], window)
    if "b2-fp32" in by and "b2-auto" in by:
        out["b2-fp32 vs b2-auto"] = curve_gap(by["b2-fp32"]["losses"], by["b2-auto"]["losses"], window)
    return out


def plot_curves(rows: list[dict], out: Path, window: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, batch in zip(axes, (8, 2)):
        for r in (r for r in rows if r.get("batch") == batch and "losses" in r):
            v = np.convolve(r["losses"], np.ones(window) / window, mode="valid")
            ax.plot(np.arange(len(v)) + window, v, label=f"{r['name']} ({r['step_ms_median']:.0f} ms/step)")
        ax.set(title=f"paper profile, batch {batch}: training loss ({window}-step mean)", xlabel="step",
               ylabel="loss")
        ax.legend(fontsize=8)
    fig.savefig(out / "loss_curves.png", dpi=120)
    plt.close(fig)


def section_bench(res: Results, out: Path, args) -> None:
    from segkit.report.paper import PAPER_BACKBONE_ROWS

    paper_fps = {label: fps for label, _, _, fps, _ in PAPER_BACKBONE_ROWS}
    cmd = [sys.executable, "-m", "segkit", "bench", *[m for m, _ in TABLE1], "--size", str(args.size),
           "--device", args.device, "--warmup", "10", "--runs", str(args.bench_runs), "--modes", "auto",
           "--json", str(out / "bench.json")]
    rc, _ = run_cmd(cmd, 420)
    rows = []
    if rc == 0:
        for (model, label), r in zip(TABLE1, json.loads((out / "bench.json").read_text())):
            auto = (r.get("modes") or {}).get("auto") or {}
            rows.append({"model": label, "params_m": r["params_m"], "gflops": r["gflops"],
                         "fps_fp32": _fps(r.get("latency")), "fps_auto": _fps(auto.get("latency")),
                         "paper_fps_other_gpu": paper_fps.get(label)})
    res.put("bench", {"rc": rc, "rows": rows})


def _fps(lat: dict | None) -> float | None:
    return None if not lat else lat.get("fps")


def section_ddp(res: Results, root: Path, out: Path, args) -> None:
    run = out / "runs" / "torchrun1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "segkit",
           "train", "--data-root", str(root), "--run-dir", str(run), "--profile", "paper", "--epochs", "2",
           "--device", args.device, "--no-progress", "--set", f"input_shape=[{args.size},{args.size}]",
           "--set", "Unfreeze_batch_size=8", "--set", "max_train_batches=10", "--set", "eval_period=1"]
    rc, out_text = run_cmd(cmd, 300)
    row: dict = {"rc": rc}
    if rc == 0:
        from segkit.runs import RunDir

        config = RunDir(run).read_config()
        row.update(backend=config.get("backend"), world_size=config.get("world_size"), device=config.get("device"),
                   miou=json.loads((run / "metrics.json").read_text()).get("miou"))
    else:
        row["tail"] = out_text[-1500:]
    res.put("ddp", row)


def section_resume(res: Results, root: Path, out: Path, args) -> None:
    """Uninterrupted runs A and B (the noise floor) and run C, Ctrl-C'd mid-epoch 2 and resumed."""
    from segkit.engine import TrainConfig, train

    cfg = TrainConfig.profile("paper").replace(
        UnFreeze_Epoch=3, Unfreeze_batch_size=8, precision="auto", max_train_batches=12, eval_flag=False,
        input_shape=[args.size, args.size], device=args.device)

    class StopAt(StepClock):
        def on_step_end(self, state) -> None:
            super().on_step_end(state)
            if state.epoch == 1 and state.step == max(state.steps_per_epoch // 2, 1):
                raise KeyboardInterrupt  # taken at the step boundary, as a real Ctrl-C

    losses = {}
    for name in ("A", "B"):
        clock = StepClock()
        train(None, cfg, root, out / "runs" / f"resume{name}", callbacks=[clock], progress=False, verbose=False)
        losses[name] = [s[2] for s in clock.steps]
    first, rest = StopAt(), StepClock()
    try:
        train(None, cfg, root, out / "runs" / "resumeC", callbacks=[first], progress=False, verbose=False)
    except KeyboardInterrupt:
        pass
    train(None, cfg, root, out / "runs" / "resumeC", callbacks=[rest], resume=True, progress=False, verbose=False)
    losses["C"] = [s[2] for s in first.steps] + [s[2] for s in rest.steps]
    a, b, c = (np.asarray(losses[k]) for k in "ABC")
    row = {"steps": [len(a), len(b), len(c)], "max_abs_A_B": float(np.max(np.abs(a - b))),
           "max_abs_A_C": float(np.max(np.abs(a - c))) if len(a) == len(c) else None,
           "first_resumed_step": len(first.steps), "losses": {k: list(map(float, v)) for k, v in losses.items()}}
    say(f"resume: {row['steps']} steps; max |A-B| {row['max_abs_A_B']:.2e} (two uninterrupted runs), "
        f"max |A-C| {row['max_abs_A_C']} (C resumed after step {row['first_resumed_step']})")
    res.put("resume", row)


def section_loader(res: Results, root: Path, args) -> None:
    from torch.utils.data import DataLoader

    from segkit.data import VOCSegmentation

    ds = VOCSegmentation(root, split="train", input_shape=(args.size, args.size), augment=True)
    rows = []
    for workers in (2, 4, 8, 12):
        if workers > (os.cpu_count() or 1):
            continue
        dl = DataLoader(ds, batch_size=8, shuffle=True, num_workers=workers, pin_memory=args.device != "cpu")
        t0 = time.perf_counter()
        it = iter(dl)
        next(it)
        start = time.perf_counter() - t0
        t1, n = time.perf_counter(), 0
        for x, _ in it:
            n += len(x)
        rows.append({"workers": workers, "start_s": start, "images_per_s": n / (time.perf_counter() - t1)})
        say(f"loader: {workers} workers: start {start:.2f} s, {rows[-1]['images_per_s']:.0f} images/s")
    res.put("loader", rows)


# ---------------------------------------------------------------------------------------- summary
def write_summary(res: Results, window: int, show: bool = False) -> None:
    d, lines = res.data, ["# segkit GPU check", ""]
    info = d.get("info", {})
    lines += [f"GPU: {info.get('nvidia_smi', '?')}; torch {info.get('torch')} (CUDA {info.get('cuda')}, "
              f"cuDNN {info.get('cudnn')}); TF32 convolutions {info.get('tf32_conv')}", ""]
    if "tests" in d:
        lines += [f"cuda tests: rc {d['tests']['rc']}: {d['tests']['tail'].strip().splitlines()[-1]}", ""]
    if d.get("train"):
        lines += ["| run | precision | step ms (median) | model-only ms | data wait (loader starts) | peak GiB "
                  "| img/s | last epoch loss |", "|---|---|---|---|---|---|---|---|"]
        for r in d["train"]:
            if "error" in r:
                lines.append(f"| {r['name']} | FAILED: {r['error']} |")
                continue
            p = r["precision"]
            lines.append(f"| {r['name']} | {p['precision']}{' + CL' if p['channels_last'] else ''} | "
                         f"{r['step_ms_median']:.1f} | {r['model_only_ms']:.1f} | {100 * r['data_wait_share']:.1f} % ({100 * r['loader_start_share']:.1f} %) "
                         f"| {r.get('peak_mem_gb', float('nan')):.2f} | {r['images_per_s']:.0f} | "
                         f"{r['epoch_loss'][-1]:.4f} |")
        gaps = d.get("curve_gaps", {})
        lines += ["", f"loss-curve gaps ({window}-step means, mean |difference|): "
                  + ", ".join(f"{k}: {v:.4f}" for k, v in gaps.items()), ""]
    if d.get("bench", {}).get("rows"):
        lines += ["| backbone | params (M) | GFLOPs | FPS fp32 | FPS auto | paper FPS (another GPU) |",
                  "|---|---|---|---|---|---|"]
        for r in d["bench"]["rows"]:
            lines.append(f"| {r['model']} | {r['params_m']} | {_f(r['gflops'])} | {_f(r['fps_fp32'])} | "
                         f"{_f(r['fps_auto'])} | {r['paper_fps_other_gpu']} |")
        lines.append("")
    for key in ("ddp", "resume", "loader"):
        if key in d:
            v = {k: x for k, x in d[key].items() if k != "losses"} if isinstance(d[key], dict) else d[key]
            lines += [f"{key}: {json.dumps(v, default=str)}", ""]
    (res.out / "summary.md").write_text("\n".join(lines))
    if show:
        say("\n".join(lines))


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def guarded(res: Results, name: str, fn) -> None:
    """Run one section; a failure is recorded and the next section runs."""
    try:
        fn()
    except Exception as exc:
        say(f"{name}: FAILED {type(exc).__name__}: {exc}")
        res.put(name, {"error": f"{type(exc).__name__}: {exc}"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu_check", help="output folder (default gpu_check)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sections", default="info,tests,bench,train,ddp,resume,loader")
    ap.add_argument("--images", type=int, default=160, help="synthetic images (8:1:1 split)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--epochs8", type=int, default=8, help="epochs at batch 8 (16 steps each with 160 images)")
    ap.add_argument("--epochs2", type=int, default=2, help="epochs at batch 2 (64 steps each)")
    ap.add_argument("--bench-runs", type=int, default=100)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes to test the script (CPU allowed)")
    args = ap.parse_args()
    if args.smoke:
        args.images, args.size, args.epochs8, args.epochs2, args.bench_runs = 40, 64, 2, 1, 3
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections = args.sections.split(",")
    res, window = Results(out), 8 if args.smoke else 24
    root = out / "data" / f"wirerope{args.size}"
    t0 = time.perf_counter()
    data = None
    if set(sections) & {"train", "ddp", "resume", "loader"} and not (root / "classes.txt").is_file():
        data = subprocess.Popen([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                 "from benchmarks.gpu_check import make_data; make_data(*sys.argv[2:])",
                                 str(REPO), str(root), str(args.images), str(args.size)])
    # the tests and the data (CPU work) first, the timed GPU work after
    before = {"info": lambda: section_info(res), "tests": lambda: section_tests(res),
              "bench": lambda: section_bench(res, out, args)}
    after = {"ddp": lambda: section_ddp(res, root, out, args), "resume": lambda: section_resume(res, root, out, args),
             "loader": lambda: section_loader(res, root, args)}
    for name in (n for n in before if n in sections):
        guarded(res, name, before[name])
        write_summary(res, window)
        if name == "tests" and data is not None:
            data.wait()  # before timing anything
    if data is not None and data.wait() != 0:
        raise SystemExit(f"making the synthetic data failed (exit {data.returncode})")
    if "train" in sections:
        rows = section_train(res, root, out, args)
        res.put("curve_gaps", compare_curves(rows, window))
        plot_curves(rows, out, window)
        write_summary(res, window)
    for name in (n for n in after if n in sections):
        guarded(res, name, after[name])
        write_summary(res, window)
    write_summary(res, window, show=True)
    say(f"gpu check done in {time.perf_counter() - t0:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
