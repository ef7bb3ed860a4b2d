"""The module-combination table of the full model: entries, the two references, the sentence on the
full model against its best single module, and the remedy entries."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segkit.report.combination import (MODULES, combination_entries, combination_paragraphs, combination_results,
                                       remedy_entries)
from segkit.runs import RunDir

CLASSES = ("background", "corrosion", "wire")


def _fake_run(root, name, seed, quality, n_images=6):
    """A complete run whose test images each score IoU q / (2 - q) on both defect classes (q = quality
    per image, so models differ consistently over images and seeds)."""
    d = root / "combination" / name / f"seed{seed}"
    (d / "checkpoints").mkdir(parents=True)
    (d / "config.yaml").write_text(f"train: {{seed: {seed}, absent: nan}}\nmodel: {{name: x}}\n"
                                   f"data: {{class_names: [{', '.join(CLASSES)}]}}\n")
    (d / "fingerprint.json").write_text("{}")
    pd.DataFrame({"epoch": [1], "train_loss": [1.0], "miou": [0.5]}).to_csv(d / "history.csv", index=False)
    q = np.clip(quality + 0.01 * np.arange(n_images) / n_images, 0, 1)
    right = np.round(100 * q).astype(np.int64)
    cms = np.zeros((n_images, 3, 3), np.int64)
    cms[:, 0, 0] = 1000
    cms[:, 1, 1], cms[:, 2, 2] = right, right
    cms[:, 1, 2], cms[:, 2, 1] = 100 - right, 100 - right
    total = cms.sum(0)
    iou = np.diag(total) / (total.sum(0) + total.sum(1) - np.diag(total))
    metrics = {"miou": float(iou.mean()), "f1": float(iou.mean()),
               "per_class": {c: {"iou": float(v)} for c, v in zip(CLASSES, iou)}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "bench.json").write_text(json.dumps({"params_trainable": 1000, "gflops": 1.0,
                                              "latency": {"fps": 10.0, "median_ms": 100.0}}))
    RunDir(d).write_per_image(cms, [f"img{i}" for i in range(n_images)], "test")


def _runs(root, quality):
    for e in combination_entries("all"):
        for seed in (0, 1, 2):
            _fake_run(root, e["name"], seed, quality[e["name"]] + 0.004 * seed)


QUALITY = {"baseline": 0.60, "ggca": 0.70, "sff": 0.66, "aspp": 0.64, "ggca+sff": 0.68, "ggca+aspp": 0.67,
           "sff+aspp": 0.65, "full": 0.62}


def test_entries_name_every_combination_by_its_paper_preset():
    entries = combination_entries("all")
    assert [e["name"] for e in entries] == list(QUALITY)
    assert [e["model"] for e in entries][:2] == ["deeplabv3plus-mobilenetv2", "improved-mobilenetv2"]
    assert entries[-1]["model"] == "sff-wadeeplab" and entries[-1]["modules"] == MODULES
    wa = combination_entries([[], ["aspp", "ggca"]], aspp="wa_aspp")
    assert wa[1]["name"] == "ggca+aspp" and wa[1]["model_kwargs"] == {"attn": "ggca", "attn_policy": "paper",
                                                                       "aspp": "wa_aspp"}
    with pytest.raises(ValueError, match="each row is a list of modules"):
        combination_entries([["ggca", "cbam"]])


def test_the_models_build_with_the_paper_parameter_counts():
    from segkit.models import build_model

    want = {"baseline": 5_813_523, "full": 12_616_548}
    for e in combination_entries([[], MODULES]):
        net = build_model(e["model"], num_classes=3, **e.get("model_kwargs", {}))
        assert sum(p.numel() for p in net.parameters()) == want[e["name"]]


def test_the_full_model_below_its_best_single_module_is_said_so_with_both_intervals(tmp_path):
    _runs(tmp_path, QUALITY)
    res = combination_results(tmp_path, "combination", combination_entries("all"), seeds=[0, 1, 2])
    assert res.best_single == "GGCA"
    t = res.table.set_index("Model")
    assert t.loc["Full (GGCA + SFF + MSA-ASPP)", "ΔmIoU vs best single"] < 0
    assert t.loc["Full (GGCA + SFF + MSA-ASPP)", "95% CI (seeds) vs best single"].startswith("[")
    assert np.isnan(t.loc["SFF", "ΔmIoU vs best single"]) and t.loc["GGCA", "95% CI (seeds) vs best single"] == "–"
    assert t.loc["Full (GGCA + SFF + MSA-ASPP)", "ΔmIoU"] > 0  # still above the baseline
    text = combination_paragraphs(res)
    assert "is shown to be below its best single module, GGCA" in text["en"] and "both intervals exclude zero" \
        in text["en"]
    assert "低于最佳单模块 GGCA" in text["zh"]


def test_a_full_model_within_noise_of_the_best_single_is_not_called_below(tmp_path):
    quality = {**QUALITY, "full": QUALITY["ggca"]}
    _runs(tmp_path, quality)
    for seed, jitter in ((0, 0.02), (1, -0.02), (2, 0.0)):  # seed noise larger than the difference
        RunDir(tmp_path / "combination" / "full" / f"seed{seed}").path
    for seed, q in ((0, 0.72), (1, 0.66), (2, 0.71)):
        d = tmp_path / "combination" / "full" / f"seed{seed}"
        import shutil

        shutil.rmtree(d)
        _fake_run(tmp_path, "full", seed, q)
    res = combination_results(tmp_path, "combination", combination_entries("all"), seeds=[0, 1, 2])
    text = combination_paragraphs(res)["en"]
    assert "is not shown to be below (or above) its best single module" in text and "shown to be below its" \
        not in text


def test_a_model_that_learned_nothing_is_no_evidence(tmp_path):
    _runs(tmp_path, {**QUALITY, "full": 0.0})
    res = combination_results(tmp_path, "combination", combination_entries("all"), seeds=[0, 1, 2])
    text = combination_paragraphs(res)["en"]
    assert "cannot be compared with the best single module" in text and "not learned" in text


def test_the_table_needs_the_baseline_and_a_single_module(tmp_path):
    _runs(tmp_path, QUALITY)
    with pytest.raises(ValueError, match="needs the baseline and at least one single module"):
        combination_results(tmp_path, "combination", combination_entries([["ggca", "sff"], MODULES]))


def test_remedy_entries_record_each_option_and_name_the_same_seeds_single_runs():
    full = combination_entries([MODULES])[0]
    path = lambda name: f"/r/combination/{name}/seed{{seed}}"  # noqa: E731
    fixes = remedy_entries(full, ["warm_start", "zero_gate", "staged", "distill"], path, epochs=8,
                           singles={"ggca": "ggca", "sff": "sff"}, teacher="ggca")
    warm, gate, staged, distill = (f["train"] for f in fixes)
    assert warm == {"warm_start": {"backbone": "/r/combination/ggca/seed{seed}", "ggca": "/r/combination/ggca/seed{seed}",
                                   "sff": "/r/combination/sff/seed{seed}", "decoder": "/r/combination/sff/seed{seed}"}}
    assert gate == {"zero_gate": True} and staged == {"part_unfreeze_epoch": {"ggca": 4, "sff": 4, "aspp": 4}}
    assert distill["distill_from"] == "/r/combination/ggca/seed{seed}" and distill["distill_weight"] > 0
    assert all(f["model"] == "sff-wadeeplab" for f in fixes) and fixes[0]["name"] == "full+warm-start"
    with pytest.raises(ValueError, match="unknown"):
        remedy_entries(full, ["dropout"], path, 8, {})
    with pytest.raises(ValueError, match="needs a teacher"):
        remedy_entries(full, ["distill"], path, 8, {})


def test_an_entrys_train_options_get_the_runs_seed():
    from segkit.experiments.grid import _with_seed

    value = {"warm_start": {"sff": "runs/sff/seed{seed}"}, "ls": ["a{seed}", 3], "zero_gate": True}
    assert _with_seed(value, 2) == {"warm_start": {"sff": "runs/sff/seed2"}, "ls": ["a2", 3], "zero_gate": True}
