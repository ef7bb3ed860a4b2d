"""Domain adaptation (the Trans4PASS workflow): pseudo-label thresholds, the panoramic warp,
DensePASS layout, MPA features, stage resumption after SIGKILL, and a tiny end-to-end run.

The MPA losses and the prototype memory have their known-answer tests in test_zoo_models.py.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from PIL import Image

from segkit.data import CityscapesSegmentation, PseudoLabelled, UnlabelledImages, make_panoramic_dataset
from segkit.data.panorama import panorama_grid, warp_to_panorama
from segkit.adapt import AdaptConfig
from segkit.adapt.features import FeatureTap
from segkit.adapt.pseudo_labels import apply_thresholds, class_thresholds, make_pseudo_labels
from segkit.engine.checkpoint import load_checkpoint
from segkit.runs import RunDir



# ----------------------------------------------------------------------------- pseudo-labels


def test_class_thresholds_are_per_class_medians_capped():
    conf = np.array([0.2, 0.4, 0.6, 0.8, 0.95, 0.97, 0.99])
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    # class 0: sorted [.2 .4 .6 .8], position round(4 * 0.5) = 2 -> 0.6 (the upper median, as the official code)
    # class 1: [.95 .97 .99], position round(1.5) = 2 -> 0.99, capped at 0.9; class 2: never predicted -> 0
    assert class_thresholds(conf, labels, 3).tolist() == [0.6, 0.9, 0.0]
    assert class_thresholds([conf[:4], conf[4:]], [labels[:4], labels[4:]], 3).tolist() == [0.6, 0.9, 0.0]
    assert class_thresholds(conf, labels, 3, quantile=0.0, cap=1.0).tolist() == [0.2, 0.95, 0.0]


def test_unconfident_pixels_become_ignore():
    labels = np.array([[0, 0, 1], [1, 2, 2]])
    conf = np.array([[0.5, 0.7, 0.3], [0.9, 0.6, 0.59]])
    out = apply_thresholds(labels, conf, [0.6, 0.5, 0.6])
    assert out.tolist() == [[255, 0, 255], [1, 2, 255]] and out.dtype == np.uint8  # equal to the threshold: kept


class FixedProbs(nn.Module):
    """A 'model' whose softmax is a given (K, H, W) probability map for every input."""

    def __init__(self, probs: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("logits", torch.log(torch.as_tensor(probs, dtype=torch.float32))[None])
        self.num_classes, self.input_multiple = probs.shape[0], 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1, -1, -1)


def test_pseudo_label_stage_writes_thresholded_pngs(tmp_path):
    """Hand-made probability maps of two 2x4 images: the PNGs, thresholds and kept counts are known."""
    p_a = np.array([[0.9, 0.7, 0.6, 0.2], [0.4, 0.3, 0.2, 0.1]])  # P(class 0) of image a; P(class 1) = 1 - p
    for i, name in enumerate(("a", "b")):
        (tmp_path / "JPEGImages").mkdir(exist_ok=True)
        Image.fromarray(np.full((2, 4, 3), 100 + i, np.uint8)).save(tmp_path / "JPEGImages" / f"{name}.png")
    (tmp_path / "ImageSets" / "Segmentation").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Segmentation" / "train.txt").write_text("a\nb\n")
    images = UnlabelledImages(tmp_path, "train", (2, 4))
    model = FixedProbs(np.stack([p_a, 1 - p_a]))
    out = RunDir(tmp_path / "run")
    info = make_pseudo_labels(model, images, out, (2, 4), ["x", "y"], scales=[1.0], device="cpu", progress=False)
    # both images get the same map: class 0 confidences .9 .7 .6 (x2), class 1: .8 .6 .7 .8 .9 (x2)
    # class 0: 6 values, position 3 of [.6 .6 .7 .7 .9 .9] -> 0.7; class 1: 10 values, position 5 -> 0.8
    assert info["thresholds"] == pytest.approx([0.7, 0.8], abs=1e-6)
    want = [[0, 0, 255, 1], [255, 255, 1, 1]]  # 0.6 < 0.7 and 0.6, 0.7 < 0.8 are unconfident
    for name in ("a", "b"):
        with Image.open(out.pseudo_label(name)) as im:
            assert im.mode == "P" and np.asarray(im).tolist() == want
    saved = out.read_thresholds()
    assert saved["kept_pixels"] == [4, 6] and saved["predicted_pixels"] == [6, 10] and saved["ids"] == ["a", "b"]
    ds = PseudoLabelled(images.image_paths, [out.pseudo_label(n) for n in images.ids], images.ids, ["x", "y"],
                        (2, 4), ignore_index=-100)
    assert ds[0][1].tolist() == [[0, 0, -100, 1], [-100, -100, 1, 1]]  # 255 in the PNG is ignore_index


# ----------------------------------------------------------------------------- data


def test_panorama_grid_is_equirectangular_over_a_wider_view():
    u, v = panorama_grid(2, 4, fov=90.0, source_fov=90.0)
    step = math.radians(90) / 4  # radians per output pixel
    lam = 1.5 * step  # longitude of column 3's centre
    assert u[0, 3] == pytest.approx(2 + 2 * math.tan(lam))  # f = (4 / 2) / tan(45 deg) = 2
    assert v[1, 3] == pytest.approx(1 + 2 * math.tan(0.5 * step) / math.cos(lam))
    assert u[0, 0] == pytest.approx(4 - u[0, 3]) and v[0, 0] == pytest.approx(2 - v[1, 0])  # symmetric
    with pytest.raises(ValueError, match="fov=180"):
        panorama_grid(4, 4, fov=180.0)


def test_warp_keeps_labels_and_marks_the_unseen_view_void():
    rgb = np.zeros((32, 48, 3), np.uint8)
    mask = np.zeros((32, 48), np.uint8)
    mask[:, 24:] = 2
    out_rgb, out_mask = warp_to_panorama(rgb, mask, fov=150.0, source_fov=60.0, fill="void")
    assert out_rgb.shape == (32, 48, 3) and set(np.unique(out_mask)) == {0, 2, 255}  # nearest: no new labels
    assert out_mask[16, 0] == 255 and out_mask[16, 20] == 0 and out_mask[16, 28] == 2
    _, reflected = warp_to_panorama(rgb, mask, fov=150.0, source_fov=60.0)
    assert set(np.unique(reflected)) == {0, 2}  # the mirrored view is labelled


def test_a_portrait_image_gets_a_wider_panorama_instead_of_reaching_the_poles():
    from segkit.data.panorama import MAX_VERTICAL_FOV, panorama_size

    rgb = np.zeros((383, 237, 3), np.uint8)  # a portrait photo: 120 deg across would be 194 deg high
    out_rgb, out_mask = warp_to_panorama(rgb, np.zeros((383, 237), np.uint8), fov=120.0)
    assert out_rgb.shape[0] == 383 and out_mask.shape == out_rgb.shape[:2]
    assert 120.0 * 383 / out_rgb.shape[1] <= MAX_VERTICAL_FOV
    assert panorama_size(64, 64, 120.0) == (64, 64)  # a square image keeps its size


def test_panoramic_dataset_is_a_voc_copy_regenerated_on_new_arguments(synthetic_root, tmp_path):
    root = make_panoramic_dataset(synthetic_root, tmp_path / "pano", max_images=3, size=(32, 48))
    ids = (synthetic_root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()[:3]
    assert (root / "ImageSets" / "Segmentation" / "train.txt").read_text().split() == ids
    first = root / "JPEGImages" / f"{ids[0]}.png"
    with Image.open(first) as im, Image.open(root / "SegmentationClass" / f"{ids[0]}.png") as m:
        assert im.size == m.size == (48, 32) and set(np.unique(np.asarray(m))) <= {0, 1, 2}
    stamp = first.stat().st_mtime_ns
    make_panoramic_dataset(synthetic_root, root, max_images=3, size=(32, 48))  # same arguments: reused
    assert first.stat().st_mtime_ns == stamp
    make_panoramic_dataset(synthetic_root, root, fov=100.0, max_images=3, size=(32, 48))
    assert json.loads((root / "panorama.json").read_text())["fov"] == 100.0


def test_densepass_layout_reads_train_ids_and_label_ids(tmp_path):
    """DensePASS names (``<id>_.png`` + ``<id>_labelTrainIds.png`` / ``<id>_labelIds.png``) share Cityscapes' ids."""
    img_dir, gt_dir = tmp_path / "leftImg8bit" / "val" / "cs", tmp_path / "gtFine" / "val" / "cs"
    img_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    (tmp_path / "leftImg8bit" / "train" / "pano").mkdir(parents=True)
    for name in ("1", "2"):
        Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(img_dir / f"{name}_.png")
    Image.fromarray(np.full((4, 8), 13, np.uint8)).save(gt_dir / "1_labelTrainIds.png")  # car
    Image.fromarray(np.full((4, 8), 26, np.uint8)).save(gt_dir / "2_labelIds.png")  # label id 26 = car
    Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(tmp_path / "leftImg8bit" / "train" / "pano" / "9_.png")
    ds = CityscapesSegmentation(tmp_path, "val", (4, 8))
    assert ds.ids == ["1", "2"] and ds.num_classes == 19
    assert {int(np.unique(ds.load_original(i)[1])[0]) for i in range(2)} == {13}
    unlabelled = UnlabelledImages(tmp_path, "train", (4, 8))  # no gtFine/train: images only
    assert unlabelled.ids == ["9"] and unlabelled[0].shape == (3, 4, 8)


# ----------------------------------------------------------------------------- MPA features


def test_feature_tap_reads_decoder_features_of_deeplab_and_trans4pass():
    from segkit.models import build_model
    from segkit.models.trans4pass import Trans4PASS

    x = torch.randn(2, 3, 64, 64)
    deeplab = build_model("deeplabv3plus-mobilenetv2", num_classes=3).eval()
    with FeatureTap(deeplab) as tap:
        logits, feats = tap(x)
        assert tap.source == "cat_conv" and logits.shape == (2, 3, 64, 64) and feats.shape == (2, 256, 16, 16)
    assert not deeplab.cat_conv._forward_hooks  # the hook is removed
    t4p = Trans4PASS(3, (1, 1, 1, 1), 16, embed_dims=(16, 32, 64, 128), num_heads=(1, 1, 2, 4)).eval()
    tap = FeatureTap(t4p)
    logits, feats = tap(x)
    assert tap.source == "forward_features" and feats.shape == (2, 16, 16, 16)
    assert torch.allclose(feats, sum(t4p.forward_features(x)[1]))
    with pytest.raises(ValueError, match="feature_layer"):
        FeatureTap(nn.Sequential(nn.Conv2d(3, 3, 1)))
    with pytest.raises(ValueError, match="Did you mean 'cat_conv'"):
        FeatureTap(deeplab, "cat_con")


def test_adapt_config_defaults_are_the_official_values_and_errors_name_the_field():
    c = AdaptConfig()
    assert (c.lambda_ssl, c.lambda_kl_s, c.lambda_kl_t, c.memory_momentum, c.memory_update_every) == \
        (1.0, 0.001, 0.001, 0.999, 100)
    assert (c.pseudo_quantile, c.pseudo_max_threshold, c.pseudo_scales) == (0.5, 0.9, [0.5, 0.75, 1.0, 1.25, 1.5, 1.75])
    assert AdaptConfig.from_dict({"lambda_kl_t": "1e-2"}).lambda_kl_t == 0.01
    with pytest.raises(ValueError, match="memory_momentum=1.0"):
        AdaptConfig(memory_momentum=1.0)
    with pytest.raises(ValueError, match="lambda_ssl"):
        AdaptConfig.from_dict({"lambda_sl": 1})


# ----------------------------------------------------------------------------- stages end to end


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    """Wire-rope source (12 images, 64 px) and its panoramic warp as the target."""
    from segkit.data import make_synthetic_wirerope

    base = tmp_path_factory.mktemp("adapt")
    src = make_synthetic_wirerope(base / "pinhole", n_images=12, size=64, seed=0, test_fraction=0.25)
    return src, make_panoramic_dataset(src, base / "panoramic", fov=120.0)


def adapt_args(src: Path, tgt: Path, run: Path) -> list[str]:
    """`segkit adapt` for a tiny run: 64 px, 2 source and 2 adaptation epochs of one batch of 4."""
    return ["adapt", "--source", str(src), "--target", str(tgt), "--run-dir", str(run), "--model",
            "deeplabv3plus-mobilenetv2", "--epochs", "2", "--adapt-epochs", "2", "--device", "cpu", "--no-progress",
            "--set", "input_shape=[64, 64]", "--set", "Unfreeze_batch_size=4", "--set", "num_workers=0",
            "--set", "max_train_batches=1", "--adapt-set", "max_train_batches=1",
            "--adapt-set", "pseudo_scales=[1.0]", "--adapt-set", "memory_update_every=1"]


# Each stage is hung at a point where part of its work is done (the child touches the marker and
# sleeps); the parent then sends SIGKILL, so no handler, finally or atexit runs in the child.
def _hang_source(hang):
    import segkit.engine.trainer as T

    class Hang(T.Callback):
        def on_epoch_start(self, state):
            if state.epoch == 1:  # source epoch 2 of 2: epoch 1 is in last.pt
                hang()

    train = T.train
    T.train = lambda *a, **k: train(*a, **{**k, "callbacks": [Hang()]})


def _hang_pseudo_labels(hang):
    import segkit.data.tools as D

    save, saved = D.save_mask, []

    def save_mask(*a, **k):
        save(*a, **k)
        saved.append(1)
        if len(saved) == 2:  # two pseudo-label PNGs written
            hang()

    D.save_mask = save_mask


def _hang_adaptation(hang):
    import segkit.adapt.train as A

    epoch = A._epoch
    A._epoch = lambda run, ep: hang() if ep == 1 else epoch(run, ep)  # epoch 1 (0-based) of 2: epoch 0 is in last.pt


def _hang_evaluation(hang):
    import segkit.adapt.stages as A

    score, calls = A._score, []

    def scored(*a, **k):
        calls.append(1)
        if len(calls) == 2:  # the source-only model is scored, the adapted one not yet
            hang()
        return score(*a, **k)

    A._score = scored


def _child(install, args: list[str], marker: Path) -> None:
    import torch

    from segkit.cli import main

    # a forked child must not enter the OpenMP pool its parent already started (it can hang there)
    torch.set_num_threads(1)

    def hang():
        marker.touch()
        time.sleep(300)

    install(hang)
    main(args)


def _run_until_hang(install, args: list[str], marker: Path) -> None:
    """Run `segkit adapt` in a forked child (it starts at once with this process's imports) and
    SIGKILL it at its hang point."""
    import multiprocessing as mp

    import segkit.cli  # noqa: F401  (imported here, so the child does not import them again)
    import segkit.adapt.train  # noqa: F401
    import segkit.models  # noqa: F401

    proc = mp.get_context("fork").Process(target=_child, args=(install, args, marker))
    proc.start()
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.exitcode is None, f"{install.__name__}: the run exited early ({proc.exitcode})"
            assert time.monotonic() < deadline, f"{install.__name__}: the run never reached its hang point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    marker.unlink()


def test_each_stage_resumes_after_sigkill_and_the_run_writes_every_artefact(domains, tmp_path, capsys):
    """SIGKILL in the middle of each stage in turn; each rerun of the same command skips finished stages,
    resumes the interrupted training from last.pt, and the last one completes with every artefact."""
    from segkit.cli import main

    src, tgt = domains
    run, marker = RunDir(tmp_path / "run"), tmp_path / "hang"
    args = adapt_args(src, tgt, run.path)
    source, adapted = run.sub(RunDir.SOURCE_RUN), run.sub(RunDir.ADAPTED_RUN)

    _run_until_hang(_hang_source, args, marker)  # killed in source epoch 2 of 2
    assert load_checkpoint(source.checkpoint("last"))["epoch"] == 1 and not source.metrics_path.exists()
    assert run.read_stages()["stages"] == {}

    _run_until_hang(_hang_pseudo_labels, args, marker)  # source resumed and finished; killed after 2 PNGs
    assert list(run.read_stages()["stages"]) == ["source"]
    assert source.read_history()["epoch"].tolist() == [1, 2]  # epoch 1 was not trained again
    assert len(list(run.pseudo_label_dir.glob("*.png"))) == 2 and not run.thresholds_path.exists()

    _run_until_hang(_hang_adaptation, args, marker)  # killed in adaptation epoch 2 of 2
    assert list(run.read_stages()["stages"]) == ["source", "pseudo_labels"]
    assert load_checkpoint(adapted.checkpoint("last"))["epoch"] == 1

    _run_until_hang(_hang_evaluation, args, marker)  # killed between the two models' scoring
    assert list(run.read_stages()["stages"]) == ["source", "pseudo_labels", "adaptation"]
    assert adapted.read_history()["epoch"].tolist() == [1, 2]
    assert run.sub(RunDir.SOURCE_ON_TARGET).metrics_path.is_file() and not adapted.metrics_path.exists()

    capsys.readouterr()
    assert main(args) == 0  # the same command completes the run
    out = capsys.readouterr().out
    assert "stage 3/4 adaptation training: done, skipped" in out and "target mIoU (test split, 3 images)" in out
    _check_artefacts(run, n_target_train=len(UnlabelledImages(tgt, "train", (64, 64))), channels=256)

    assert main(args) == 0  # a finished run: every stage skipped, nothing rewritten
    out = capsys.readouterr().out
    assert out.count("done, skipped") == 4


def test_tiny_trans4pass_adaptation_from_python_writes_every_artefact(domains, tmp_path):
    """The Python API with a model instance: Trans4PASS's MPA features come from forward_features."""
    from segkit.adapt import adapt
    from segkit.engine import TrainConfig, load_run
    from segkit.models.trans4pass import Trans4PASS

    src, tgt = domains
    torch.manual_seed(0)
    net = Trans4PASS(3, (1, 1, 1, 1), 16, embed_dims=(16, 32, 64, 128), num_heads=(1, 1, 2, 4))
    cfg = TrainConfig.profile("quick", input_shape=[64, 64], UnFreeze_Epoch=1, Unfreeze_batch_size=4, num_workers=0,
                              max_train_batches=1)
    acfg = AdaptConfig(epochs=1, pseudo_scales=[1.0], max_train_batches=1)
    res = adapt(net, cfg, acfg, src, tgt, tmp_path / "t4p", device="cpu", progress=False, verbose=False, log=None)
    run = RunDir(res.run_dir)
    _check_artefacts(run, n_target_train=len(UnlabelledImages(tgt, "train", (64, 64))), channels=16)
    assert run.sub(RunDir.ADAPTED_RUN).read_config()["adapt"]["feature_source"] == "forward_features"
    assert res.gain == pytest.approx(100 * (res.adapted["miou"] - res.source_only["miou"]))
    adapted = load_run(run.sub(RunDir.ADAPTED_RUN).path, model=net).model  # the adapted weights load back
    assert adapted(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def _check_artefacts(run: RunDir, n_target_train: int, channels: int) -> None:
    stages = run.read_stages()["stages"]
    assert list(stages) == ["source", "pseudo_labels", "adaptation", "evaluation"]
    for sub in (RunDir.SOURCE_RUN, RunDir.ADAPTED_RUN):
        assert run.sub(sub).is_complete() and run.sub(sub).checkpoint("best").is_file()
    pngs = sorted(run.pseudo_label_dir.glob("*.png"))
    assert len(pngs) == n_target_train
    thr = run.read_thresholds()
    assert len(thr["thresholds"]) == 3 and all(0 <= t <= 0.9 for t in thr["thresholds"])
    values = set().union(*(np.unique(np.asarray(Image.open(p))).tolist() for p in pngs))
    assert values <= {0, 1, 2, 255}
    history = run.sub(RunDir.ADAPTED_RUN).read_history()
    assert {"loss_source", "loss_target", "loss_mpa_source", "loss_mpa_target"} <= set(history.columns)
    assert np.isfinite(history[["loss_source", "loss_mpa_target"]].to_numpy()).all()
    protos = run.sub(RunDir.ADAPTED_RUN).read_prototypes()
    assert protos["initial"].shape == protos["final"].shape == (3, channels)
    assert list(protos["class_names"]) == ["background", "corrosion", "broken_wire"]
    before, after = run.sub(RunDir.SOURCE_ON_TARGET), run.sub(RunDir.ADAPTED_RUN)
    for rd in (before, after):
        m = rd.read_metrics()
        assert m["split"] == "test" and m["domain"] == "target" and 0 <= m["miou"] <= 1
        cms, ids = rd.read_per_image()
        assert cms.shape == (3, 3, 3) and len(ids) == 3
        assert isinstance(rd.read_confusion(), pd.DataFrame)
    assert stages["evaluation"]["adapted_miou"] == after.read_metrics()["miou"]


def _fake_stage(rd: RunDir, ious: dict[str, float], images: int = 4) -> None:
    """A scored adaptation stage: metrics.json with per-class IoU and per-image matrices."""
    rd.path.mkdir(parents=True, exist_ok=True)
    rd.write_metrics({"miou": float(np.mean(list(ious.values()))), "f1": 0.5, "mpa": 0.5, "accuracy": 0.9,
                      "per_class": {c: {"iou": v} for c, v in ious.items()}})
    cms = np.zeros((images, 2, 2), dtype=np.int64)
    cms[:, 0, 0] = 90
    cms[:, 1, 1] = [int(100 * ious["crack"]) + k for k in range(images)]
    cms[:, 1, 0] = 10
    rd.write_per_image(cms, [f"img{k}" for k in range(images)], "test")


def test_adaptation_table_marks_a_model_that_learned_nothing(tmp_path):
    from segkit.report.adaptation import adaptation_comparison

    dirs = []
    for seed in (0, 1):
        rd = RunDir(tmp_path / f"seed{seed}")
        _fake_stage(rd.sub(RunDir.SOURCE_ON_TARGET), {"background": 0.95, "crack": 0.01})  # background only
        _fake_stage(rd.sub(RunDir.ADAPTED_RUN), {"background": 0.96, "crack": 0.30 + 0.02 * seed})
        dirs.append(rd.path)
    table, diff = adaptation_comparison(dirs)
    assert table["Not learned"].tolist() == ["crack", "–"]
    assert table["IoU crack(%)"].tolist() == pytest.approx([1.0, 31.0])
    assert diff.baseline_not_learned == ("crack",) and diff.variant_not_learned == ()
    assert not diff.supported  # a difference against a model that learned nothing is no evidence


def test_run_adaptation_trains_the_source_stage_once_with_a_cropping_recipe(domains, tmp_path):
    """The quick recipe crops; the source stage trains on letterboxed images. run_adaptation must ask
    ensure_run for the source stage's recipe, or the run it makes is moved aside and trained again."""
    from segkit.engine import TrainConfig
    from segkit.experiments import run_adaptation

    src, tgt = domains
    cfg = TrainConfig.profile("quick", input_shape=[64, 64], UnFreeze_Epoch=1, Unfreeze_batch_size=4, num_workers=0,
                              max_train_batches=1, train_crop=True)
    acfg = AdaptConfig(epochs=1, pseudo_scales=[1.0], max_train_batches=1)
    (run,) = run_adaptation("deeplabv3plus-mobilenetv2", cfg, acfg, src, tgt, tmp_path, [0], log=lambda *a: None)
    assert RunDir(run).sub(RunDir.SOURCE_RUN).is_complete()
    assert not (Path(run) / RunDir.SUPERSEDED).exists()
    assert RunDir(run).sub(RunDir.SOURCE_RUN).read_config()["train"]["train_crop"] is False
