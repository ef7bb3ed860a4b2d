"""segkit.metrics against independent references (numpy bincount, scikit-learn) and the paper."""
from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segkit.metrics import ConfusionMatrix, SegMetrics, f1_of_means, mean_of_f1, metrics_from_hist


# independent references ---------------------------------------------------------------


def np_hist(pred: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """The reference evaluator's fast_hist: keep 0 <= g < k, bincount(k*g + p)."""
    g, p = target.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    keep = (g >= 0) & (g < k)
    return np.bincount(k * g[keep] + p[keep], minlength=k * k).reshape(k, k)


def reference_scores(hist: np.ndarray):
    """The reference's per_class_iu / PA_Recall / Precision with max(., 1) denominators."""
    iou = np.diag(hist) / np.maximum(hist.sum(1) + hist.sum(0) - np.diag(hist), 1)
    rec = np.diag(hist) / np.maximum(hist.sum(1), 1)
    prec = np.diag(hist) / np.maximum(hist.sum(0), 1)
    acc = np.diag(hist).sum() / max(hist.sum(), 1)
    return iou, rec, prec, acc


def random_maps(rng, k, shape=(2, 64, 64), ignore=None, absent=()):
    target = rng.integers(0, k, size=shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, k, size=shape))
    for c in absent:  # class c in neither GT nor prediction
        target[target == c] = (c + 1) % k
        pred[pred == c] = (c + 1) % k
    if ignore is not None:
        target[rng.random(shape) < 0.1] = ignore
    return pred, target


# confusion matrix -----------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 15, 16, 21, 200])
@pytest.mark.parametrize("ignore", [None, 255])
def test_hist_matches_numpy_bincount(k, ignore):
    rng = np.random.default_rng(k)
    pred, target = random_maps(rng, k, ignore=ignore)
    cm = ConfusionMatrix(k, ignore_index=ignore)
    cm.update(torch.from_numpy(pred), torch.from_numpy(target))
    assert cm.hist.dtype == torch.int64 and cm.hist.shape == (k, k)
    np.testing.assert_array_equal(cm.hist.numpy(), np_hist(pred, target, k))
    assert int(cm.hist.sum()) == int((target != ignore).sum())


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_target_dtypes_and_numpy_inputs(dtype):
    rng = np.random.default_rng(0)
    pred, target = random_maps(rng, 3, ignore=255)
    want = np_hist(pred, target, 3)
    cm = ConfusionMatrix(3).update(torch.from_numpy(pred).to(dtype), torch.from_numpy(target).to(dtype))
    np.testing.assert_array_equal(cm.hist.numpy(), want)
    cm = ConfusionMatrix(3).update(pred, target)  # numpy arrays are accepted too
    np.testing.assert_array_equal(cm.hist.numpy(), want)


def test_negative_ignore_index_uses_general_path():
    rng = np.random.default_rng(1)
    pred, target = random_maps(rng, 4, ignore=-1)
    cm = ConfusionMatrix(4, ignore_index=-1).update(torch.from_numpy(pred), torch.from_numpy(target))
    np.testing.assert_array_equal(cm.hist.numpy(), np_hist(pred, target, 4))


@pytest.mark.parametrize("k", [3, 21])
def test_logits_equal_argmax_labels(k):
    g = torch.Generator().manual_seed(k)
    logits = torch.randn(2, k, 16, 24, generator=g)
    logits[0, :, 0, 0] = 1.0  # a tie: argmax takes the first maximum
    target = torch.randint(0, k, (2, 16, 24), generator=g)
    a = ConfusionMatrix(k).update(logits, target)
    b = ConfusionMatrix(k).update(logits.argmax(1), target)
    torch.testing.assert_close(a.hist, b.hist, rtol=0, atol=0)


def test_rows_are_ground_truth():
    cm = ConfusionMatrix(3).update(torch.tensor([[2, 2, 1]]), torch.tensor([[0, 0, 1]]))
    assert cm.hist[0, 2] == 2 and cm.hist[2, 0] == 0 and cm.hist[1, 1] == 1


def test_strict_false_drops_out_of_range_like_reference():
    pred = torch.tensor([[0, 1, 2, 1, 0]])
    target = torch.tensor([[0, 1, 3, 255, 7]])  # the reference maps void to K (=3)
    cm = ConfusionMatrix(3, strict=False).update(pred, target)
    np.testing.assert_array_equal(cm.hist.numpy(), np_hist(pred.numpy(), target.numpy(), 3))
    assert int(cm.hist.sum()) == 2


# against scikit-learn -----------------------------------------------------------------


@pytest.mark.parametrize("ignore", [None, 255])
@pytest.mark.parametrize("absent", [(), (1,), (0, 3)])
def test_against_sklearn(ignore, absent):
    # imported here, not at the top: both xdist workers import every test module to collect it (1.8 s each)
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    k = 5
    rng = np.random.default_rng(len(absent) * 10 + (ignore is not None))
    pred, target = random_maps(rng, k, ignore=ignore, absent=absent)
    cm = ConfusionMatrix(k, ignore_index=ignore).update(torch.from_numpy(pred), torch.from_numpy(target))
    keep = target.ravel() != ignore
    y_true, y_pred = target.ravel()[keep], pred.ravel()[keep]
    np.testing.assert_array_equal(cm.hist.numpy(), confusion_matrix(y_true, y_pred, labels=list(range(k))))

    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=list(range(k)), zero_division=0)
    present = np.array([c not in absent for c in range(k)])
    m = cm.compute()  # absent="nan": absent classes are NaN, the rest match sklearn
    np.testing.assert_allclose(m.precision[present], p[present])
    np.testing.assert_allclose(m.recall[present], r[present])
    np.testing.assert_allclose(m.f1_per_class[present], f[present])
    assert np.isnan(m.iou[~present]).all() and np.isnan(m.precision[~present]).all()
    assert m.mpa == pytest.approx(r[present].mean())
    assert m.mprecision == pytest.approx(p[present].mean())
    assert m.mean_f1 == pytest.approx(f[present].mean())
    assert m.accuracy == pytest.approx((y_true == y_pred).mean())
    pm, rm = p[present].mean(), r[present].mean()
    assert m.f1 == pytest.approx(2 * pm * rm / (pm + rm))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = ConfusionMatrix(k, ignore_index=ignore, absent="zero").update(
            torch.from_numpy(pred), torch.from_numpy(target)
        ).compute()
    # absent="zero" equals sklearn with zero_division=0 on every class, and the reference formulas
    np.testing.assert_allclose(z.precision, p)
    np.testing.assert_allclose(z.recall, r)
    assert z.mpa == pytest.approx(r.mean()) and z.mprecision == pytest.approx(p.mean())
    iou, rec, prec, acc = reference_scores(np_hist(pred, target, k))
    np.testing.assert_allclose(z.iou, iou)
    assert z.miou == pytest.approx(np.nanmean(iou)) and z.accuracy == pytest.approx(acc)


def test_absent_policies_differ_as_documented():
    hist = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    nan = metrics_from_hist(hist, absent="nan")
    assert math.isnan(nan.iou[2]) and nan.miou == pytest.approx((8 / 11 + 9 / 12) / 2)
    assert nan.absent_classes == ["class_2"]
    with pytest.warns(UserWarning, match="absent"):
        zero = metrics_from_hist(hist, absent="zero")
    assert zero.iou[2] == 0 and zero.miou == pytest.approx((8 / 11 + 9 / 12) / 3)
    assert nan.accuracy == zero.accuracy == pytest.approx(17 / 20)
    json.dumps(nan.as_dict(), allow_nan=False)  # NaN becomes None: strict JSON works


def test_empty_matrix():
    m = ConfusionMatrix(3).compute()
    assert math.isnan(m.miou) and math.isnan(m.accuracy) and math.isnan(m.f1)
    z = ConfusionMatrix(3, absent="zero").compute()
    assert z.miou == 0 and z.accuracy == 0


# the paper's numbers --------------------------------------------------------------------

SFF_GROUPS = [  # the paper's SFF table (docs/metrics.md): per-class P and R (bg, corrosion, broken), F1 of means, mean of F1
    ([99.81, 64.43, 56.58], [99.62, 82.52, 67.73], 78.15, 77.91),
    ([99.81, 68.75, 56.52], [99.65, 82.69, 67.75], 78.98, 78.81),
    ([99.83, 64.67, 46.41], [99.51, 82.36, 72.60], 76.88, 76.25),
    ([99.81, 67.52, 60.23], [99.67, 83.68, 65.53], 79.25, 79.08),
]


@pytest.mark.parametrize("p,r,f1,mf1", SFF_GROUPS)
def test_paper_f1_of_means(p, r, f1, mf1):
    assert round(f1_of_means(p, r), 2) == f1
    assert round(mean_of_f1(p, r), 2) == mf1  # the per-class mean misses the table


def test_paper_per_class_f1_group1():
    p, r = np.array(SFF_GROUPS[0][0]) / 100, np.array(SFF_GROUPS[0][1]) / 100
    f1c = 2 * p * r / (p + r)
    np.testing.assert_allclose(np.round(f1c * 100, 2), [99.71, 72.36, 61.65])
    assert round(mean_of_f1(p[1:], r[1:]) * 100, 2) == 67.01  # foreground-only mean
    assert round((99.43 + 56.69 + 44.57) / 3, 2) == 66.9


def test_foreground_mean_f1_from_hist():
    hist = np.array([[50, 3, 2], [4, 20, 1], [1, 2, 10]])
    m = metrics_from_hist(hist)
    assert m.mean_f1_fg == pytest.approx(np.mean(m.f1_per_class[1:]))
    assert m.f1 == pytest.approx(f1_of_means(m.precision, m.recall))
    np.testing.assert_array_equal(m.pa, m.recall)


# printed formats ------------------------------------------------------------------------


def test_report_prints_reference_format(capsys):
    cm = ConfusionMatrix(3, class_names=["background", "corrosion", "broken_wire"])
    cm.update(torch.tensor([[0, 1, 2, 2]]), torch.tensor([[0, 1, 2, 1]]))
    df = cm.report(table=False)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "===>background:\tIou-100.0; Recall (equal to the PA)-100.0; Precision-100.0",
        "===>corrosion:\tIou-50.0; Recall (equal to the PA)-50.0; Precision-100.0",
        "===>broken_wire:\tIou-50.0; Recall (equal to the PA)-100.0; Precision-50.0",
        "===> mIoU: 66.67; mPA: 83.33; Accuracy: 75.0",
    ]
    assert list(df.index) == ["background", "corrosion", "broken_wire"]
    assert df.loc["corrosion", "F1"] == 66.67 and df.loc["corrosion", "GT pixels"] == 2
    buf = io.StringIO()
    cm.report(file=buf)
    assert "Recall (PA)" in buf.getvalue()  # the table follows the reference lines
    assert cm.compute().progress_line(10, 481) == "10 / 481: mIou-66.67%; mPA-83.33%; Accuracy-75.00%"


def test_tables_and_dict():
    cm = ConfusionMatrix(2, class_names=["bg", "fg"])
    m = cm.update(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1, 0]])).compute()
    assert isinstance(m, SegMetrics)
    assert m.confusion_table().loc["bg", "fg"] == 1
    d = json.loads(json.dumps(m.as_dict(), allow_nan=False))
    assert d["confusion_matrix"] == [[1, 1], [0, 1]] and d["per_class"]["fg"]["recall"] == 1.0
    assert d["f1"] == pytest.approx(m.f1)


# state ----------------------------------------------------------------------------------


def test_merge_reset_state_dict():
    rng = np.random.default_rng(3)
    (p1, t1), (p2, t2) = random_maps(rng, 3, ignore=255), random_maps(rng, 3, ignore=255)
    a = ConfusionMatrix(3).update(torch.from_numpy(p1), torch.from_numpy(t1))
    b = ConfusionMatrix(3).update(torch.from_numpy(p2), torch.from_numpy(t2))
    both = np_hist(p1, t1, 3) + np_hist(p2, t2, 3)
    np.testing.assert_array_equal(a.merge(b).hist.numpy(), both)
    c = ConfusionMatrix(3)
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(c.hist.numpy(), both)
    assert c.all_reduce() is c  # not initialised: no-op
    np.testing.assert_array_equal(c.hist.numpy(), both)
    assert int(a.reset().hist.sum()) == 0
    with pytest.raises(ValueError, match="4-class"):
        a.merge(ConfusionMatrix(4))
    with pytest.raises(ValueError, match="shape"):
        ConfusionMatrix(4).load_state_dict(b.state_dict())


def test_all_reduce_single_process_group(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed unavailable or already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        cm = ConfusionMatrix(3).update(torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 1]]))
        before = cm.hist.clone()
        cm.all_reduce()  # world of one: the sum is the matrix itself
        torch.testing.assert_close(cm.hist, before)
    finally:
        dist.destroy_process_group()


def test_device_argument_and_first_update_device():
    cm = ConfusionMatrix(3, device="cpu")
    assert cm.device == torch.device("cpu")
    cm.update(np.zeros((1, 4, 4), dtype=np.int64), np.zeros((1, 4, 4), dtype=np.int64))
    assert cm.hist.device.type == "cpu" and int(cm.hist[0, 0]) == 16


# bad input ------------------------------------------------------------------------------


def test_bad_inputs_raise_with_value():
    cm = ConfusionMatrix(3)
    t = torch.zeros(2, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\(2, 8, 9\).*\(2, 8, 8\)"):
        cm.update(torch.zeros(2, 8, 9, dtype=torch.long), t)
    with pytest.raises(ValueError, match=r"expected logits of shape \(2, 3, 8, 8\)"):
        cm.update(torch.zeros(2, 4, 8, 8), t)
    with pytest.raises(ValueError, match="float32"):
        cm.update(torch.zeros(2, 8, 8, dtype=torch.long), t.float())
    with pytest.raises(ValueError, match="label-map predictions must be integers"):
        cm.update(t.float(), t)
    with pytest.raises(ValueError, match=r"\[7\]"):
        cm.update(t, t.index_fill(2, torch.tensor([0]), 7))
    with pytest.raises(ValueError, match=r"\[-2\]"):
        cm.update(t, t.index_fill(2, torch.tensor([0]), -2))
    with pytest.raises(ValueError, match="class index 5"):
        cm.update(t + 5, t)
    with pytest.raises(ValueError, match="70000"):
        cm.update(t, t.index_fill(2, torch.tensor([0]), 70000))
    with pytest.raises(ValueError, match="fix-binary"):
        ConfusionMatrix(2, ignore_index=None).update(t, t.index_fill(2, torch.tensor([0]), 255))
    assert int(cm.hist.sum()) == 0  # failed updates added nothing


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)
    with pytest.raises(ValueError, match="ignore_index=1"):
        ConfusionMatrix(3, ignore_index=1)
    with pytest.raises(ValueError, match="class_names"):
        ConfusionMatrix(3, class_names=["a", "b"])
    with pytest.raises(ValueError, match="absent"):
        ConfusionMatrix(3, absent="skip")
    with pytest.raises(ValueError, match="square"):
        metrics_from_hist(np.zeros((2, 3)))


# properties (hypothesis) ----------------------------------------------------------------

label_maps = st.integers(1, 6).flatmap(
    lambda k: st.tuples(
        st.just(k),
        arrays(
            np.int64,
            st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),  # (B, H, W)
            elements=st.integers(0, k - 1),
        ),
        st.randoms(use_true_random=False),
    )
)


def _pred_like(target, k, rnd):
    noise = np.array([rnd.randrange(k) for _ in range(target.size)]).reshape(target.shape)
    flip = np.array([rnd.random() < 0.5 for _ in range(target.size)]).reshape(target.shape)
    return np.where(flip, noise, target)


@settings(max_examples=60, deadline=None)
@given(label_maps)
def test_prop_iou_at_most_min_precision_recall(data):
    k, target, rnd = data
    pred = _pred_like(target, k, rnd)
    m = ConfusionMatrix(k).update(torch.from_numpy(pred), torch.from_numpy(target)).compute()
    ok = ~np.isnan(m.iou)
    assert (m.iou[ok] <= np.minimum(m.precision[ok], m.recall[ok]) + 1e-12).all()
    assert 0 <= m.miou <= 1 and 0 <= m.accuracy <= 1


@settings(max_examples=40, deadline=None)
@given(label_maps)
def test_prop_perfect_prediction_scores_one(data):
    k, target, _ = data
    m = ConfusionMatrix(k).update(torch.from_numpy(target), torch.from_numpy(target)).compute()
    present = np.isin(np.arange(k), target)
    np.testing.assert_array_equal(m.iou[present], 1.0)
    assert np.isnan(m.iou[~present]).all()
    assert m.miou == m.mpa == m.mprecision == m.accuracy == m.f1 == m.mean_f1 == 1.0


@settings(max_examples=40, deadline=None)
@given(label_maps, st.integers(1, 3))
def test_prop_accumulating_batches_equals_one_batch(data, n_chunks):
    k, target, rnd = data
    pred = _pred_like(target, k, rnd)
    target = target.copy()
    target[0, 0, 0] = 255  # at least one ignored pixel
    whole = ConfusionMatrix(k).update(torch.from_numpy(pred), torch.from_numpy(target))
    parts = ConfusionMatrix(k)
    for p, t in zip(np.array_split(pred, n_chunks), np.array_split(target, n_chunks)):
        if p.size:
            parts.update(torch.from_numpy(p), torch.from_numpy(t))
    torch.testing.assert_close(parts.hist, whole.hist, rtol=0, atol=0)
    assert whole.compute().as_dict() == parts.compute().as_dict()


def test_learning_lines_warn_about_classes_never_predicted():
    """An all-background model: the lines give the defect-class mean and name what was not learned."""
    from segkit.metrics import learning_lines, metrics_from_hist

    hist = np.array([[900, 0, 0], [40, 0, 0], [50, 10, 0]])  # nothing predicted as broken_wire
    m = metrics_from_hist(hist, ["background", "corrosion", "broken_wire"])
    lines = learning_lines(m, [3, 1, 2])
    assert lines[0].startswith("mean IoU of the 2 non-background classes: 0.00 %")
    assert lines[1] == "scored images holding each class: background 3, corrosion 1, broken_wire 2"
    assert "warning: not learned (IoU under 5 %): corrosion (IoU 0.0 %), broken_wire (no pixel predicted)" in lines[2]
    learned = metrics_from_hist(np.array([[900, 5, 5], [5, 40, 0], [5, 0, 50]]), ["background", "corrosion", "wire"])
    assert not any(line.startswith("warning") for line in learning_lines(learned))
