"""Several models at once: interleaved timing for fair FPS ratios, and one paper-style table."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

import torch
import torch.nn as nn

from segkit._utils import eval_mode, resolve_device
from segkit.bench.environment import _check_shape
from segkit.bench.profile import profile
from segkit.bench.results import BenchResult, LatencyStats
from segkit.bench.timing import time_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["profile_interleaved", "profile_many"]


def profile_interleaved(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    *,
    runs: int = 30,
    warmup: int = 5,
    rounds: int = 5,
    **profile_kwargs: Any,
) -> dict[str, BenchResult]:
    """``profile`` several models with their timed passes interleaved, for a fair comparison.

    Round 1 profiles every model in turn (params, FLOPs, memory, ``runs // rounds`` timed
    passes after `warmup`); each later round times every model again for its share of the
    passes. A slow-down of the machine (another job, a clock change) then hits every model
    alike instead of whichever happened to be timed during it, so FPS ratios within one call
    are robust. The eager latency of each result holds all ``runs`` samples; its protocol
    records ``interleaved``.

    Args:
        models: {name: model}.
        input_shape, device: as in ``profile``.
        runs: timed passes per model in total (at least ``rounds``).
        warmup: untimed passes per model before round 1.
        rounds: how many times the models take turns.
        **profile_kwargs: other ``profile`` arguments (``protocol``, ``postprocess``, ``flops``);
            optimised ``modes`` are not interleaved and are rejected.
    """
    if rounds < 1 or runs < rounds:
        raise ValueError(f"need rounds >= 1 and runs >= rounds; got runs={runs}, rounds={rounds}")
    if set(profile_kwargs.get("modes", ("eager",))) - {"eager"}:
        raise ValueError("profile_interleaved times the eager model only; use profile(modes=...) for the others")
    protocol = profile_kwargs.get("protocol", "median")
    postprocess = profile_kwargs.get("postprocess", True)
    share = [runs // rounds + (1 if r < runs % rounds else 0) for r in range(rounds)]
    results = {name: profile(m, input_shape, device, runs=share[0], warmup=warmup, name=name, **profile_kwargs)
               for name, m in models.items()}
    dev = resolve_device(device)
    x = torch.rand(_check_shape(input_shape), generator=torch.Generator().manual_seed(profile_kwargs.get("seed", 0)))
    x = x.to(dev)
    samples = {name: list(r.latency.samples_ms) for name, r in results.items()}
    for n_runs in share[1:]:
        for name, m in models.items():
            with eval_mode(m):
                lat = time_model(m.to(dev), x, warmup=1, runs=n_runs, protocol=protocol, postprocess=postprocess)
            samples[name] += lat.samples_ms
    stat = "mean" if protocol == "reference" else "median"
    for name, r in results.items():
        r.latency = LatencyStats.from_samples([v / 1e3 for v in samples[name]], warmup, r.input_shape[0], stat)
        r.modes["eager"].latency = r.latency
        r.protocol.update(runs=runs, interleaved=f"{rounds} round(s), taking turns with {len(models) - 1} other model(s)")
    return results


def profile_many(
    models: Mapping[str, nn.Module | str] | Iterable[str],
    input_shape: Sequence[int] = (1, 3, 512, 512),
    device: str | torch.device = "cpu",
    *,
    num_classes: int | None = 3,
    errors: Literal["raise", "record"] = "raise",
    progress: bool = False,
    **profile_kwargs: Any,
) -> "pd.DataFrame":
    """Profile several models into one paper-style DataFrame.

    Args:
        models: {table name: model or registered model name}, or a list of registered names.
        input_shape, device: as in ``profile``.
        num_classes: passed to ``build_model`` for names (None: the factory default).
        errors: "raise" stops at the first failing model; "record" puts the error in an
            ``error`` column and goes on.
        progress: show a tqdm bar.
        **profile_kwargs: passed to ``profile`` (runs, warmup, protocol, modes, ...).

    Returns:
        A DataFrame, one row per model: model, Params (M), GFLOPs, FPS, latency median/p90
        (ms), peak memory, exact counts, one ``FPS (<mode>)`` column per optimised mode,
        device, input, protocol. ``df.attrs["results"]`` holds every ``BenchResult.to_dict()``.
    """
    import pandas as pd

    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record'; got {errors!r}")
    if not isinstance(models, Mapping):
        models = {str(n): str(n) for n in models}
    items = list(models.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="profile")
    rows, results = [], []
    for label, m in items:
        try:
            if isinstance(m, str):
                from segkit.models import build_model

                m = build_model(m, num_classes=num_classes)
            r = profile(m, input_shape, device, name=label, **profile_kwargs)
        except Exception as exc:
            if errors == "raise":
                raise
            rows.append({"model": label, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        rows.append(r.row())
        results.append(r.to_dict())
    df = pd.DataFrame(rows)
    df.attrs["results"] = results
    return df
