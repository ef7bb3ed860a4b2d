"""``segkit zoo``: the model-zoo table (params, GFLOPs and CPU latency at one input size).

    segkit zoo                                  # every registered model, 512x512
    segkit zoo --family segformer --family unet # some families
    segkit zoo --pattern "trans4pass*" --runs 5 --csv zoo.csv
    segkit zoo --no-latency                     # params and FLOPs only (fast)

Params are counted on the default configuration of each registered factory (its
default ``num_classes``). FLOPs and latency come from ``segkit.bench.profile`` (FLOPs =
2 x MACs of conv/linear/matmul, eval mode; latency = median of ``--runs`` forward passes
at batch 1 on the CPU after one warm-up pass). ``ref`` is the registry's
``reference_params`` (the paper / official figure) and ``diff`` our count relative to it.
"""
from __future__ import annotations

import argparse

__all__ = ["add_commands", "zoo_table"]


def zoo_table(names: list[str] | None = None, size: int = 512, runs: int = 3, latency: bool = True,
              families: list[str] | None = None, pattern: str | None = None, threads: int | None = None):
    """Build the zoo table as a pandas DataFrame (one row per model, in name order).

    Args:
        names: models to include (default: all registered, filtered by the next two).
        size: square input size for FLOPs and latency.
        runs: timed forward passes per model (median reported); ignored without `latency`.
        latency: time the models on the CPU (False: params and FLOPs only, no ``cpu_ms`` column).
        families: keep only these registry families.
        pattern: glob on the model name.
        threads: torch CPU threads while timing (None keeps the current setting).
    """
    import pandas as pd
    import torch

    from segkit import bench
    from segkit.models import build_model, list_models, model_info

    if runs < 1:
        raise ValueError(f"runs must be >= 1; got {runs}.")
    if size < 32:
        raise ValueError(f"size must be >= 32; got {size}.")
    if names is None:
        names = list_models(pattern)
        if families:
            names = [n for n in names if model_info(n).family in families]
    if threads:
        torch.set_num_threads(threads)
    rows = []
    for name in names:
        info = model_info(name)
        mult = max(1, info.input_multiple)
        side = (size + mult - 1) // mult * mult  # pad up to a valid size
        model = build_model(name).eval()
        r = bench.profile(model, (1, 3, side, side), "cpu", runs=runs, warmup=1, timing=latency,
                          postprocess=False, name=name)
        ref = info.reference_params
        rows.append({
            "model": name,
            "family": info.family,
            "year": info.year,
            "params_m": round(r.params_total / 1e6, 2),
            "ref_m": round(ref / 1e6, 2) if ref else None,
            "diff_pct": round(100 * (r.params_total - ref) / ref, 1) if ref else None,
            "input": f"{side}x{side}",
            "gflops": round(r.gflops, 1) if r.gflops is not None else None,
            "gmacs": round(r.gmacs, 1) if r.gmacs is not None else None,
            "cpu_ms": round(r.latency.median_ms, 1) if r.latency else None,
        })
        del model
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["year"] = df["year"].astype("Int64")  # missing years stay empty, the others integers
    for col in ("ref_m", "diff_pct", "gflops", "gmacs", "cpu_ms"):
        df[col] = pd.to_numeric(df[col])  # None -> NaN, printed as "-"
    return df if latency else df.drop(columns="cpu_ms")


def _cmd_zoo(args: argparse.Namespace) -> int:
    from segkit.commands.models import print_table

    df = zoo_table(args.model or None, args.size, args.runs, not args.no_latency, args.family or None,
                   args.pattern, args.threads)
    if df.empty:
        raise ValueError("no registered model matches the filters (see `segkit zoo` without options)")
    if args.csv:
        df.to_csv(args.csv, index=False)
    print_table(df)
    timing = f"; cpu_ms: median of {args.runs} runs, batch 1" if "cpu_ms" in df else ""
    print(f"\nparams_m: total parameters at the default config; ref_m: paper/official figure; "
          f"GFLOPs = 2 x GMACs at the input shown{timing}.")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``segkit zoo``."""
    p = sub.add_parser("zoo", help="model-zoo table: params, GFLOPs and CPU latency of registered models",
                       description="Build every registered model (or those chosen) and measure parameters, GFLOPs "
                                   "and CPU latency at one input size; ref_m is the paper's parameter count.",
                       epilog="examples:\n  segkit zoo --no-latency\n  segkit zoo --family segformer --family unet\n"
                              "  segkit zoo --pattern 'trans4pass*' --runs 5 --csv zoo.csv")
    p.add_argument("model", nargs="*", help="model names (default: every registered model)")
    p.add_argument("--family", action="append", default=[], help="keep a registry family (repeatable)")
    p.add_argument("--pattern", default=None, help="glob on model names, e.g. 'segformer*'")
    p.add_argument("--size", type=int, default=512, help="square input size (default 512)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per model, median reported (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads while timing")
    p.add_argument("--no-latency", action="store_true", help="skip timing (params and FLOPs only)")
    p.add_argument("--csv", default=None, help="also write the table to this CSV file")
    p.set_defaults(func=_cmd_zoo)
