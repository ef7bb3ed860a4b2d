"""Early stopping on the validation mIoU, decided from the run's history alone.

The count is recomputed from ``history.csv``'s evaluated rows, so a resumed run makes the
same decision as an uninterrupted one, and a run resumed with a larger patience trains on.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

__all__ = ["evaluations_since_best", "early_stop_wait"]


def evaluations_since_best(scores: Iterable[float], min_delta: float = 0.0) -> int:
    """How many scores came after the best one without beating it by more than `min_delta`.

    A score counts as an improvement when ``score > best + min_delta``; NaN never does.
    E.g. ``[0.2, 0.4, 0.41, 0.43]`` gives 0 with ``min_delta=0.02`` (0.43 > 0.42) and 2 with
    ``min_delta=0.05`` (neither 0.41 nor 0.43 beats 0.45).
    """
    best, wait = -math.inf, 0
    for s in scores:
        if not math.isnan(s) and s > best + min_delta:
            best, wait = s, 0
        else:
            wait += 1
    return wait


def early_stop_wait(history: Sequence[dict[str, Any]], min_delta: float = 0.0, metric: str = "miou") -> int:
    """:func:`evaluations_since_best` over the evaluated rows (those with `metric`) of a run's history."""
    return evaluations_since_best((float(r[metric]) for r in history if r.get(metric) is not None), min_delta)
