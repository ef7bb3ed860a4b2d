"""Boundary IoU and object-level metrics: known answers, a straightforward reference, and where they go
(evaluate, metrics.json, per_image_cm.npz, `segkit evaluate`, tables, paragraphs)."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from segkit.metrics import (BoundaryIoU, ExtraMetrics, ObjectStats, boundary_iou, metrics_from_hist,
                            object_metrics)
from segkit.metrics.boundary import boundary_counts, boundary_dilation
from segkit.metrics.objects import class_objects


# ----------------------------------------------------------------------------- boundary IoU: known answers
def _square(shape=(64, 64), top=20, left=20, side=20) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[top:top + side, left:left + side] = 1
    return m


def test_boundary_iou_of_identical_masks_is_one_and_of_disjoint_masks_zero():
    m = _square()
    assert boundary_iou(m, m, 2).tolist() == [1.0, 1.0]
    other = _square(top=2, left=2, side=10)  # no pixel of the square in common
    assert boundary_iou(other, m, 2)[1] == 0.0


def test_boundary_iou_of_a_shifted_square_is_the_hand_computed_value():
    """A 20x20 square shifted right by 3 px in a 64x64 image. d = round(0.02 * hypot(64, 64)) = 2, so
    each band is the square less its 16x16 interior: 400 - 256 = 144 px. The squares share a 20x17
    block (340 px); of that, 272 px lie in an interior (15x16 + 15x16 - 13x16), so the bands share
    340 - 272 = 68 px and their union is 144 + 144 - 68 = 220: boundary IoU 68 / 220, where the mask
    IoU is 340 / 460."""
    assert boundary_dilation((64, 64)) == 2
    target, pred = _square(), _square(left=23)
    counts = boundary_counts(pred, target, 2)
    assert counts[:, 1].tolist() == [68, 220]
    assert boundary_iou(pred, target, 2)[1] == pytest.approx(68 / 220)
    assert metrics_from_hist(np.bincount(2 * target.ravel() + pred.ravel(), minlength=4).reshape(2, 2)).iou[1] \
        == pytest.approx(340 / 460)


def _reference_band(mask: np.ndarray, d: int) -> np.ndarray:
    """The paper's mask_to_boundary: pad with zeros, erode d times with a 3x3 kernel, subtract."""
    h, w = mask.shape
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:h + 1, 1:w + 1]
    return (mask - eroded).astype(bool)


def _reference_boundary_iou(preds, targets, k, ratio=0.02, ignore=255) -> np.ndarray:
    inter, union = np.zeros(k), np.zeros(k)
    for p, t in zip(preds, targets):
        d = max(1, int(round(ratio * math.hypot(*t.shape))))
        valid = t != ignore
        for c in range(k):
            g_band = _reference_band((t == c).astype(np.uint8), d) & valid
            p_band = _reference_band((p == c).astype(np.uint8), d) & valid
            inter[c] += (g_band & p_band).sum()
            union[c] += (g_band | p_band).sum()
    with np.errstate(invalid="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def _blobs(rng, shape, k) -> np.ndarray:
    """Label maps with regions (a coarse random map scaled up) rather than salt and pepper."""
    coarse = rng.integers(0, k, size=(max(2, shape[0] // 8), max(2, shape[1] // 8))).astype(np.uint8)
    return cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_NEAREST)


@pytest.mark.parametrize("seed", range(4))
def test_boundary_iou_equals_the_reference_on_random_masks_with_ignored_pixels(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    preds, targets = [], []
    for _ in range(3):
        shape = tuple(int(v) for v in rng.integers(9, 120, size=2))  # sizes differ: d differs per image
        t = _blobs(rng, shape, k).astype(np.int64)
        t[rng.random(shape) < 0.05] = 255
        targets.append(t)
        preds.append(_blobs(rng, shape, k))
    want = _reference_boundary_iou(preds, targets, k)
    got = boundary_iou(preds, targets, k)
    np.testing.assert_allclose(got, want, equal_nan=True)
    acc = BoundaryIoU(k)
    per_image = acc.update(preds, targets)
    assert per_image.shape == (3, 2, k) and (per_image.sum(0) == acc.counts).all()


def test_boundary_iou_batches_logits_and_ignored_images():
    rng = np.random.default_rng(0)
    t = np.stack([_blobs(rng, (32, 48), 3) for _ in range(2)]).astype(np.int64)
    logits = torch.randn(2, 3, 32, 48)
    batch = boundary_iou(logits, torch.from_numpy(t), 3)
    np.testing.assert_allclose(batch, boundary_iou(list(logits.argmax(1).numpy()), list(t), 3))
    assert np.isnan(boundary_iou(np.zeros((8, 8), np.uint8), np.full((8, 8), 255), 2)).all()  # nothing scored
    with pytest.raises(ValueError, match="outside"):
        boundary_iou(np.zeros((8, 8), np.uint8), np.full((8, 8), 7), 2)
    assert np.isnan(boundary_iou(np.zeros((8, 8), np.uint8), np.full((8, 8), 7), 2, strict=False)).all()
    with pytest.raises(ValueError, match="dilation_ratio"):
        boundary_iou(t, t, 3, dilation_ratio=2)


# ----------------------------------------------------------------------------- objects: known answers
def _two_objects():
    """A 100x100 image: a 10x10 object (1 % of the image: large) that the prediction covers 60 %, a 3x3
    object (0.09 %: small) of which it covers one pixel, and a 5x5 predicted blob on background."""
    t = np.zeros((100, 100), np.uint8)
    p = np.zeros_like(t)
    t[10:20, 10:20] = 1
    t[50:53, 50:53] = 1
    p[10:20, 10:16] = 1
    p[52, 52] = 1
    p[80:85, 80:85] = 1
    return p, t


def test_object_metrics_one_found_one_missed_one_false_positive():
    p, t = _two_objects()
    r = object_metrics(p, t, 2, class_names=["background", "wire"])
    assert r.counts.objects[1].tolist() == [1, 0, 1]  # small, medium, large
    assert r.counts.found[1].tolist() == [0, 0, 1]
    np.testing.assert_allclose(r.mean_iou[1], [1 / 9, np.nan, 60 / 100])
    assert r.counts.fp_components.tolist() == [0, 1] and r.fp_per_image[1] == 1.0
    assert r.summary() == {"small_detection": 0.0, "medium_detection": pytest.approx(math.nan, nan_ok=True),
                           "large_detection": 1.0, "fp_per_image": 1.0}
    d = r.as_dict()
    assert d["per_class"]["wire"]["large"] == {"objects": 1, "found": 1, "detection_rate": 1.0, "mean_iou": 0.6}
    assert d["size_bins"]["small"] == [0.0, 0.001] and "at least 0.5 of its pixels" in d["found_rule"]
    assert "background" not in d["per_class"] and d["background"] == "background"
    objects = class_objects(p, t, 1, 2)
    assert objects.found.tolist() == [True, False] and objects.size.tolist() == [100, 9]
    assert objects.fp_mask.sum() == 25 and objects.fp_components == 1


def test_object_iou_counts_the_whole_overlapping_component_and_ignored_pixels_never():
    t = np.zeros((100, 100), np.int64)
    t[10:20, 10:20] = 1
    t[10:20, 30:40] = 1
    p = np.zeros((100, 100), np.uint8)
    p[10:20, 10:40] = 1  # one component merging both objects and the gap between them
    r = object_metrics(p, t, 2)
    assert r.counts.found[1, 2] == 2
    assert r.mean_iou[1, 2] == pytest.approx(100 / 300)  # each object against the whole 300 px component
    t[10:20, 20:30] = 255  # the gap is not scored: the component has 200 scored pixels
    assert object_metrics(p, t, 2).mean_iou[1, 2] == pytest.approx(100 / 200)
    p2 = np.zeros_like(p)
    p2[60:70, 60:70] = 1
    t2 = np.full((100, 100), 255)
    t2[:50] = 0
    assert object_metrics(p2, t2, 2).counts.fp_components[1] == 0  # only on ignored pixels: no false positive


def test_object_stats_accumulate_per_image_and_merge():
    p, t = _two_objects()
    a = ObjectStats(2)
    per_image = a.update(np.stack([p, p]), np.stack([t, t]))
    assert len(per_image) == 2 and a.num_images == 2
    assert a.compute().counts.objects[1].tolist() == [2, 0, 2] and a.compute().fp_per_image[1] == 1.0
    b = ObjectStats(2).merge(a)
    assert b.compute().counts.found[1].tolist() == [0, 0, 2]
    with pytest.raises(ValueError, match="size_bins"):
        ObjectStats(2, size_bins=(0.01, 0.001))
    with pytest.raises(ValueError, match="cannot merge"):
        ObjectStats(2, found_fraction=0.3).merge(a)
    every = object_metrics(p, t, 2, background=None)  # class 0 has objects too: the background
    assert every.counts.objects[0].sum() == 1


def test_extra_metrics_keep_each_image_and_sum_to_the_totals():
    rng = np.random.default_rng(3)
    e = ExtraMetrics(3, ["background", "corrosion", "broken_wire"], per_image=True)
    for _ in range(4):
        e.update(_blobs(rng, (40, 56), 3), _blobs(rng, (40, 56), 3))
    arrays, res = e.per_image_arrays(), e.compute()
    assert arrays["boundary"].shape == (4, 2, 3) and arrays["objects"].shape == (4, 3, 3, 2)
    assert (arrays["boundary"].sum(0) == np.stack([res["boundary"].intersection, res["boundary"].union])).all()
    assert (arrays["objects"][..., 0].sum(0) == res["objects"].counts.objects).all()
    assert (arrays["fp_components"].sum(0) == res["objects"].counts.fp_components).all()
    assert res["objects"].background == 0 and ExtraMetrics(3, ["sky", "road", "car"]).objects.background is None


# ----------------------------------------------------------------------------- where the metrics go
class TinyNet(torch.nn.Module):
    """One 3x3 convolution: enough to produce label maps for the evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.num_classes = 3
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture(scope="module")
def tiny_run(synthetic_root, tmp_path_factory):
    from segkit.engine import TrainConfig, train

    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1, Unfreeze_batch_size=4, Init_lr=0.1, num_workers=0,
                      eval_period=1, max_train_batches=2)
    torch.manual_seed(0)
    return train(TinyNet(), cfg, synthetic_root, tmp_path_factory.mktemp("extra") / "run", progress=False,
                 verbose=False)


def test_metrics_json_and_the_per_image_store_carry_boundary_and_object_metrics(tiny_run, synthetic_root):
    from segkit.data import VOCSegmentation
    from segkit.engine import evaluate, load_run
    from segkit.runs import RunDir

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    b, o = metrics["boundary"], metrics["objects"]
    assert set(b["per_class"]) == {"background", "corrosion", "broken_wire"} and b["dilation_ratio"] == 0.02
    assert b["dilation_px"] == [2, 2]  # round(0.02 * hypot(64, 64)) = 2
    assert set(o["per_class"]) == {"corrosion", "broken_wire"} and o["background"] == "background"
    assert {"small_detection", "medium_detection", "large_detection", "fp_per_image", "found_rule",
            "iou_rule"} <= set(o)
    rd = RunDir(tiny_run)
    cms, ids = rd.read_per_image()
    extra = rd.read_per_image_extra()
    assert extra["boundary"].shape == (len(ids), 2, 3) and extra["objects"].shape == (len(ids), 3, 3, 2)
    assert extra["boundary"].sum(0)[0].tolist() == [v["intersection"] for v in b["per_class"].values()]
    assert extra["boundary"].sum(0)[1].tolist() == [v["union"] for v in b["per_class"].values()]
    found = extra["objects"][:, 2, :, 1].sum(0).tolist()  # broken_wire, per size bin
    assert found == [o["per_class"]["broken_wire"][s]["found"] for s in ("small", "medium", "large")]
    # evaluate() on the report split gives the same numbers, and can leave them out
    run = load_run(tiny_run, model=TinyNet())
    ds = VOCSegmentation(synthetic_root, split=metrics["split"], input_shape=(64, 64))
    m = evaluate(run.model, ds, device="cpu", progress=False)
    assert m.as_dict()["boundary"] == b and m.as_dict()["objects"] == o
    plain = evaluate(run.model, ds, device="cpu", progress=False, extra_metrics=False)
    assert plain.boundary is None and "boundary" not in plain.as_dict() and plain.miou == m.miou


def test_segkit_evaluate_prints_and_writes_them(tiny_run, tmp_path, monkeypatch, capsys):
    import segkit.engine
    from segkit.cli import main

    real = segkit.engine.load_run
    monkeypatch.setattr(segkit.engine, "load_run", lambda run_dir, checkpoint="best", device="cpu":
                        real(run_dir, model=TinyNet(), checkpoint=checkpoint, device=device))
    out = tmp_path / "m.json"
    assert main(["evaluate", str(tiny_run), "--device", "cpu", "--no-progress", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "===> Boundary IoU (band 2 px = 0.02 x diagonal): background-" in printed
    assert "===> Objects (small < 0.10%, medium < 1.00% of the image; found = covered >= 50%): corrosion" in printed
    written = json.loads(out.read_text())
    assert "boundary" in written and "objects" in written


# ----------------------------------------------------------------------------- tables, intervals, paragraphs
def _fake_run(root, name, seed, small_found, boundary_inter, per_image=True):
    """A complete run of 4 test images: each has 2 small objects of class 1 (small_found[i] of them
    found) and boundary counts (intersection boundary_inter[i], union 100) for classes 1 and 2."""
    import pandas as pd

    from segkit.runs import RunDir

    d = root / "exp" / name / f"seed{seed}"
    (d / "checkpoints").mkdir(parents=True)
    (d / "config.yaml").write_text(f"train: {{seed: {seed}}}\nmodel: {{name: x}}\n")
    (d / "fingerprint.json").write_text("{}")
    pd.DataFrame({"epoch": [1], "train_loss": [1.0], "miou": [0.5]}).to_csv(d / "history.csv", index=False)
    n = len(small_found)
    objects = np.zeros((n, 3, 3, 2), np.int64)
    objects[:, 1, 0, 0], objects[:, 1, 0, 1] = 2, small_found
    boundary = np.zeros((n, 2, 3), np.int64)
    boundary[:, 0, 1:], boundary[:, 1, 1:] = np.asarray(boundary_inter)[:, None], 100
    boundary[:, :, 0] = [90, 100]
    inter, union = boundary.sum(0)
    iou = inter / union
    small = objects[:, 1, 0, 1].sum() / objects[:, 1, 0, 0].sum()
    metrics = {"miou": 0.5, "f1": 0.5, "per_class": {c: {"iou": 0.5} for c in ("background", "corrosion", "wire")},
               "boundary": {"miou": float(iou.mean()), "miou_fg": float(iou[1:].mean()),
                            "per_class": {c: {"iou": float(v)} for c, v in
                                          zip(("background", "corrosion", "wire"), iou)}},
               "objects": {"small_detection": float(small), "medium_detection": None, "large_detection": None,
                           "fp_per_image": 0.25}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    rd = RunDir(d)
    cms = np.tile(np.eye(3, dtype=np.int64) * 100, (n, 1, 1))
    rd.write_per_image(cms, [f"img{i}" for i in range(n)], "test",
                       extra={"boundary": boundary, "objects": objects} if per_image else None)
    return d


def _claim_runs(tmp_path, per_image=True):
    from segkit.report import collect_runs

    for seed, jitter in enumerate((0, 1, 2)):
        _fake_run(tmp_path, "base", seed, [0, 1, 0, 1], [40 + jitter, 50, 45, 55], per_image)
        _fake_run(tmp_path, "ours", seed, [2, 2, 1, 2], [60 + jitter, 70, 65, 75], per_image)
    return collect_runs(tmp_path)


def test_results_table_shows_the_extra_metrics_only_when_asked(tmp_path):
    from segkit.report import results_table

    runs = _claim_runs(tmp_path)
    assert runs.loc[0, "small_detection"] == pytest.approx(25.0) and set(runs.loc[0, "class_biou"]) == \
        {"background", "corrosion", "wire"}
    plain = results_table(runs, columns=("miou",))
    assert not any("Boundary" in c or "Det." in c or "BIoU" in c for c in plain.columns)
    t = results_table(runs, columns=("miou",), metrics=["boundary", "objects"], order=["base", "ours"])
    for col in ("Boundary mIoU(%)", "Boundary mIoU fg(%)", "Det. small(%)", "Det. small(%) std", "FP/img",
                "BIoU corrosion(%)", "BIoU wire(%)"):
        assert col in t.columns, col
    assert "BIoU background(%)" not in t.columns
    assert t["Det. small(%)"].tolist() == pytest.approx([25.0, 87.5])
    from segkit.report import tables

    mask = tables.best_mask(t)
    assert mask.loc[1, "Det. small(%)"] and mask.loc[1, "Boundary mIoU fg(%)"] and not mask["FP/img"].any()  # a tie
    with pytest.raises(ValueError, match="choose from"):
        results_table(runs, metrics=["edges"])


def test_claims_paragraph_states_both_claims_from_the_intervals(tmp_path):
    from segkit.report import text
    from segkit.report.compare import claim_differences

    runs = _claim_runs(tmp_path)
    small, edge = claim_differences(runs, "ours", "base")
    assert small.metric == "small_detection" and small.delta == pytest.approx(62.5)
    assert edge.metric == "boundary_miou_fg" and edge.delta == pytest.approx(20.0)
    assert small.supported and edge.supported and small.images.lo > 0
    en = text.claims_paragraph([small, edge])
    assert en.startswith("The small-target claim (the share of small objects found")
    assert "is supported: ours against base, Δ +62.50 points, 95 % CI seeds [" in en
    assert "The edge claim (the boundary IoU, mean over the classes but the background) is supported" in en
    zh = text.claims_paragraph([small, edge], lang="zh")
    assert "小目标结论" in zh and "得到支持" in zh
    # the other way round the claims are contradicted; without per-image counts nothing is claimed
    assert "is contradicted: base is below ours" in text.claims_paragraph(claim_differences(runs, "base", "ours"))


def test_claims_paragraph_claims_nothing_without_evidence(tmp_path):
    from dataclasses import replace

    from segkit.report import text
    from segkit.report.compare import claim_differences

    old = claim_differences(_claim_runs(tmp_path / "old", per_image=False), "ours", "base")
    assert all(d.images is None and not d.supported for d in old)
    assert "is not supported: the runs store no per-image counts" in text.claims_paragraph(old)
    small = claim_differences(_claim_runs(tmp_path / "new"), "ours", "base")[0]
    one_seed = replace(small, n_seeds=1)
    assert "a single seed cannot measure training noise" in text.claims_paragraph([one_seed])
    unlearned = replace(small, baseline_not_learned=("wire",))
    assert "cannot be tested for ours against base: base (wire) has not learned" in text.claims_paragraph([unlearned])
    both = replace(unlearned, variant_not_learned=("corrosion", "wire"))
    assert ": ours (corrosion, wire) and base (wire) have not learned" in text.claims_paragraph([both])
    assert "cannot be tested for ours against base: the runs hold no value" in \
        text.claims_paragraph([replace(small, delta=math.nan)])
    noisy = replace(small, images=type(small.images)(-1.0, 5.0))
    assert "an interval includes zero" in text.claims_paragraph([noisy])
    with pytest.raises(ValueError, match="test no claim"):
        text.claims_paragraph([replace(small, metric="miou")])


def test_claim_differences_test_only_the_claims_asked_for(tmp_path):
    from segkit.report.compare import claim_differences

    runs = _claim_runs(tmp_path)
    (edge,) = claim_differences(runs, "ours", "base", claims=["edge"])
    assert edge.metric == "boundary_miou_fg" and edge.delta == pytest.approx(20.0)
    small, edge2 = claim_differences(runs, "ours", "base", {"ours": "Ours", "base": "Base"}, ["small_target", "edge"])
    assert (small.metric, small.name, small.baseline) == ("small_detection", "Ours", "Base")
    assert (edge2.metric, edge2.delta, edge2.images) == (edge.metric, edge.delta, edge.images)
    for bad in (["edges"], "edge", []):
        with pytest.raises(ValueError, match="choose one or more of"):
            claim_differences(runs, "ours", "base", claims=bad)


def test_results_table_claims_group_adds_the_two_claim_metrics_only(tmp_path):
    from segkit.report import results_table

    t = results_table(_claim_runs(tmp_path), columns=("miou",), metrics=["claims"], order=["base", "ours"])
    added = [c for c in t.columns if c.startswith(("Det.", "Boundary", "BIoU", "FP/"))]
    assert added == ["Det. small(%)", "Det. small(%) std", "Boundary mIoU fg(%)", "Boundary mIoU fg(%) std"]
    assert t["Boundary mIoU fg(%)"].tolist() == pytest.approx([47.75, 67.75])  # (190 + jitter) / 400 px, mean over seeds
    assert "IoU wire(%)" in t.columns  # the per-class IoU columns stay


def test_experiment_results_show_the_metrics_and_test_the_claims_asked_for(tmp_path):
    from segkit.report.experiments import experiment_results

    _claim_runs(tmp_path)
    entries = [{"name": "base", "label": "Base"}, {"name": "ours", "label": "Ours"}]
    res = experiment_results(tmp_path, "exp", entries, baseline="base", metrics=["objects"])
    assert res.table["Det. small(%)"].tolist() == pytest.approx([25.0, 87.5]) and "Boundary mIoU(%)" not in res.table
    assert (res.baseline, res.baseline_name, res.labels) == ("Base", "base", {"base": "Base", "ours": "Ours"})
    assert [d.metric for d in res.claim_differences(["small_target"])] == ["small_detection"]
    p = res.paragraphs("ASPP variant", speed=False, claims=["small_target"])
    assert p["en"].startswith("The baseline, Base, reaches") and "The edge claim" not in p["en"]
    assert "The small-target claim (the share of small objects found" in p["en"]
    assert "is supported: Ours against Base, Δ +62.50 points" in p["en"]
    assert "小目标结论" in p["zh"] and "得到支持" in p["zh"]
    assert "The small-target claim" not in res.paragraphs("ASPP variant", speed=False)["en"]  # none asked for
    # the same evidence between models the claims are not about: a difference, no verdict on a claim
    plain = res.claims_paragraphs(["small_target", "edge"], about_claim=False)
    assert "claim" not in plain["en"] and "结论" not in plain["zh"]
    assert plain["en"].startswith("The share of small objects found, pooled over the defect classes")
    assert ": Ours is above Base beyond noise, Δ +62.50 points, 95 % CI seeds [" in plain["en"]
    assert "Ours 高于 Base" in plain["zh"]
    no_base = experiment_results(tmp_path, "exp", entries)
    with pytest.raises(ValueError, match="no baseline"):
        no_base.claim_differences()


def test_claims_without_any_small_object_have_no_value_and_warn_nothing(tmp_path):
    import warnings

    from segkit.report import text
    from segkit.report.compare import claim_differences
    from segkit.report.stats import bootstrap_interval

    o = np.zeros((2, 4, 3, 3, 2))  # 2 seeds, 4 images, not one small object
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(bootstrap_interval(o, o, "small_detection").lo)
        from segkit.report import collect_runs
        from segkit.runs import RunDir

        for seed in (0, 1):
            for name in ("base", "ours"):
                d = _fake_run(tmp_path, name, seed, [0, 0], [40, 50])
                m = json.loads((d / "metrics.json").read_text())
                m["objects"]["small_detection"] = None  # and a class without an IoU: its mean has no value
                m["per_class"] = {"background": {"iou": 0.9}, "wire": {"iou": None}}
                (d / "metrics.json").write_text(json.dumps(m))
                cms, ids = RunDir(d).read_per_image()
                extra = RunDir(d).read_per_image_extra()
                RunDir(d).write_per_image(cms, ids, "test", extra={**extra, "objects": 0 * extra["objects"]})

        small = claim_differences(collect_runs(tmp_path), "ours", "base", claims=["small_target"])[0]
    assert math.isnan(small.delta) and "cannot be tested for ours against base: the runs hold no value" in \
        text.claims_paragraph([small])


def test_join_paragraphs_joins_each_language_in_its_way_and_skips_empty_parts():
    from segkit.report.text import join_paragraphs

    parts = ({"en": "A.", "zh": "甲。"}, {"en": "", "zh": ""}, {}, {"en": "B.", "zh": "乙。"})
    assert join_paragraphs(*parts) == {"en": "A. B.", "zh": "甲。乙。"}


def test_claim_metrics_between_other_models_name_no_claim_and_keep_the_not_learned_rule(tmp_path):
    from dataclasses import replace

    from segkit.report import text
    from segkit.report.compare import claim_differences

    small, edge = claim_differences(_claim_runs(tmp_path), "ours", "base")
    unlearned = text.claims_paragraph([replace(edge, variant_not_learned=("wire",))], about_claim=False)
    assert unlearned.startswith("The boundary IoU, mean over the classes but the background: ours is not compared "
                                "with base, as ours (wire) has not learned these classes")
    assert "above" not in unlearned and "below" not in unlearned
    assert "an interval includes zero" in text.claims_paragraph([replace(small, images=type(small.images)(-1.0, 5.0))],
                                                                about_claim=False)
    assert ": base is below ours beyond noise" in text.claims_paragraph(
        claim_differences(_claim_runs(tmp_path / "b"), "base", "ours", claims=["edge"]), about_claim=False)


def test_bootstrap_of_the_extra_metrics_resamples_their_counts():
    from segkit.report.stats import bootstrap_interval, metric_from_counts

    b = np.zeros((1, 4, 2, 2))
    b[..., 0, :], b[..., 1, :] = [50, 30], 100
    assert metric_from_counts(b[0].sum(0), "boundary_miou").tolist() == pytest.approx(40.0)
    assert metric_from_counts(b[0].sum(0), "boundary_miou_fg").tolist() == pytest.approx(30.0)
    better = b.copy()
    better[..., 0, 1] = 60
    iv = bootstrap_interval(better, b, "boundary_miou_fg")
    assert iv.lo == pytest.approx(30.0) and iv.hi == pytest.approx(30.0)  # every image gains 30 points
    o = np.zeros((1, 3, 2, 3, 2))
    o[..., 1, 0, 0] = 2
    assert np.isnan(metric_from_counts(np.zeros((2, 3, 2)), "small_detection"))  # no small object
    o2 = o.copy()
    o2[..., 1, 0, 1] = 1
    assert bootstrap_interval(o2, o, "small_detection").lo == pytest.approx(50.0)


def test_figures_show_the_bands_and_the_objects_the_metrics_count():
    import matplotlib

    matplotlib.use("Agg")
    from segkit.report import plot_boundary_bands, plot_objects

    p, t = _two_objects()
    fig = plot_boundary_bands(t, p, 1, class_name="wire")
    title = fig.axes[0].get_title()
    assert "bands of d = 3 px" in title and f"boundary IoU {100 * boundary_iou(p, t, 2)[1]:.1f}%" in title
    fig = plot_objects(t, p, 1, class_name="wire", image=np.zeros((100, 100, 3), np.uint8))
    ax = fig.axes[0]
    assert ax.get_title() == "wire: found 1 of 2 objects (small 0/1, large 1/1)\n1 false-positive component(s)"
    assert sorted(a.get_text() for a in ax.texts) == ["L 0.60", "S 0.11"]
    rgb = ax.get_images()[0].get_array()
    assert tuple(rgb[15, 15]) == (0, 158, 115) and tuple(rgb[51, 51]) == (213, 94, 0)  # found, missed
    assert tuple(rgb[82, 82]) == (204, 121, 167)  # the false positive


def _reference_objects(p, t, k, bins=(0.001, 0.01), ignore=255):
    """Object by object with scipy's labelling: (objects, found, iou sums) (K, 3) and false positives (K,)."""
    from scipy import ndimage

    eight = np.ones((3, 3))
    valid = t != ignore
    objects, found, iou, fp = np.zeros((k, 3)), np.zeros((k, 3)), np.zeros((k, 3)), np.zeros(k)
    for c in range(1, k):
        lg, ng = ndimage.label(t == c, structure=eight)
        lp, npc = ndimage.label(p == c, structure=eight)
        for i in range(1, ng + 1):
            obj = lg == i
            touching = set(np.unique(lp[obj & (p == c)])) - {0}
            q = np.isin(lp, list(touching)) & valid
            inter = (obj & (p == c)).sum()
            j = 0 if obj.sum() < bins[0] * t.size else 1 if obj.sum() < bins[1] * t.size else 2
            objects[c, j] += 1
            found[c, j] += inter >= 0.5 * obj.sum()
            iou[c, j] += inter / (obj | q).sum()
        fp[c] = sum(1 for i in range(1, npc + 1) if not ((lp == i) & (t == c)).any() and ((lp == i) & valid).any())
    return objects, found, iou, fp


def _defects(rng, shape, k) -> np.ndarray:
    """Mostly background, with rectangles of 2, 6 and 20 px cells: objects of every size bin."""
    out = np.zeros(shape, np.uint8)
    for cell, share in ((20, 0.15), (6, 0.1), (2, 0.02)):
        probs = [1 - share] + [share / (k - 1)] * (k - 1)
        coarse = rng.choice(k, size=(-(-shape[0] // cell), -(-shape[1] // cell)), p=probs)
        layer = np.kron(coarse, np.ones((cell, cell), np.uint8))[:shape[0], :shape[1]].astype(np.uint8)
        out = np.where(layer > 0, layer, out)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_object_metrics_equal_an_object_by_object_reference_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    k = 3
    stats = ObjectStats(k)
    want = [np.zeros((k, 3)), np.zeros((k, 3)), np.zeros((k, 3)), np.zeros(k)]
    for _ in range(3):
        shape = tuple(int(v) for v in rng.integers(80, 160, size=2))
        t = _defects(rng, shape, k).astype(np.int64)
        t[rng.random(shape) < 0.03] = 255
        keep = np.kron(rng.random((shape[0] // 8 + 1, shape[1] // 8 + 1)) < 0.7, np.ones((8, 8), bool))
        p = np.where(keep[:shape[0], :shape[1]], np.where(t == 255, 0, t), _defects(rng, shape, k))
        stats.update(p, t)
        for acc, v in zip(want, _reference_objects(p, t, k)):
            acc += v
    got = stats.compute().counts
    np.testing.assert_array_equal(got.objects, want[0])
    np.testing.assert_array_equal(got.found, want[1])
    np.testing.assert_allclose(got.iou_sum, want[2])
    np.testing.assert_array_equal(got.fp_components, want[3])
    assert (got.objects[1:].sum(0) > 0).all() and (got.found[1:].sum(0) > 0).all()  # every size bin is tested
    assert (got.found < got.objects).any() and got.fp_components[1:].sum() > 0
