"""Known answers for the comparison statistics: seed intervals, the paired bootstrap, the metric formulas."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segkit.metrics import metrics_from_hist
from segkit.report.stats import bootstrap_interval, compare, mean_std, metric_from_hist, seed_interval


def _images(rng: np.random.Generator, n: int, k: int = 3, seeds: int = 3) -> np.ndarray:
    """(seeds, n, k, k) per-image confusion matrices of a mediocre model."""
    cms = rng.integers(0, 40, size=(seeds, n, k, k))
    cms[..., np.arange(k), np.arange(k)] += 200  # mostly right
    return cms


def test_identical_models_give_intervals_that_contain_zero():
    rng = np.random.default_rng(0)
    a = _images(rng, 30)
    d = compare("same", "base", [61.0, 63.0, 62.0], [61.0, 63.0, 62.0], a, a.copy())
    assert d.delta == 0 and d.seeds.lo <= 0 <= d.seeds.hi and d.images.lo <= 0 <= d.images.hi
    assert not d.supported


def test_a_model_better_on_every_test_image_gets_intervals_that_exclude_zero():
    rng = np.random.default_rng(1)
    base = _images(rng, 30)
    better = base.copy()
    k = base.shape[-1]
    for c in range(k):  # move pixels from every off-diagonal cell to the diagonal, on every image
        for r in range(k):
            if r != c:
                moved = better[..., r, c] // 2
                better[..., r, c] -= moved
                better[..., r, r] += moved
    per_seed = [float(metric_from_hist(better[s].sum(0)) - metric_from_hist(base[s].sum(0))) for s in range(3)]
    assert all(x > 0 for x in per_seed)
    d = compare("better", "base", [60 + x for x in per_seed], [60.0] * 3, better, base)
    assert d.images.lo > 0 and d.supported == (d.seeds.lo > 0)
    assert bootstrap_interval(base, better).hi < 0  # and the other way round, below zero


def test_seed_interval_is_the_student_t_interval():
    iv = seed_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert iv.lo == pytest.approx(2 - half) and iv.hi == pytest.approx(2 + half)
    assert seed_interval([1.0]) is None  # one seed: no interval, so nothing can be claimed
    assert mean_std([1.0, float("nan"), 3.0]) == (2.0, pytest.approx(math.sqrt(2)), 2)


def test_bootstrap_refuses_runs_scored_on_different_images():
    with pytest.raises(ValueError, match="same test split"):
        bootstrap_interval(np.zeros((2, 5, 3, 3)), np.zeros((2, 6, 3, 3)))


@settings(max_examples=150, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(2, 6), st.integers(2, 6)).map(lambda t: (t[0], t[0])),
              elements=st.integers(0, 30)), st.sampled_from(["nan", "zero"]))
def test_vectorised_metrics_equal_segkit_metrics(hist, absent):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = metrics_from_hist(hist, absent=absent)
    for name, ref in (("miou", m.miou), ("mpa", m.mpa), ("f1", m.f1), ("accuracy", m.accuracy)):
        got = float(metric_from_hist(hist, name, absent))
        assert (math.isnan(got) and math.isnan(ref)) or got == pytest.approx(100 * ref, abs=1e-9), name
