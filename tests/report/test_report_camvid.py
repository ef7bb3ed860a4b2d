"""`segkit report --data` on real data: a small CamVid subset (11 classes, 360x480 images)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.camvid, pytest.mark.slow]


def _subset(src: Path, dst: Path, n_train: int = 12, n_val: int = 4, n_test: int = 4) -> Path:
    """Copy the first images of each split, keeping the VOC layout and classes.txt."""
    seg = dst / "ImageSets" / "Segmentation"
    seg.mkdir(parents=True)
    (dst / "JPEGImages").mkdir()
    (dst / "SegmentationClass").mkdir()
    shutil.copy(src / "classes.txt", dst / "classes.txt")
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        ids = (src / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()[:n]
        (seg / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i in ids:
            shutil.copy(src / "JPEGImages" / f"{i}.jpg", dst / "JPEGImages")
            shutil.copy(src / "SegmentationClass" / f"{i}.png", dst / "SegmentationClass")
    return dst


def test_report_runs_on_a_camvid_subset(camvid_root, tmp_path, capsys):
    from segkit.cli import main

    data = _subset(camvid_root, tmp_path / "camvid")
    out = tmp_path / "report"
    rc = main(["report", "--data", str(data), "--only", "00,01,02,06", "--out", str(out),
               "--figures", str(tmp_path / "figures"), "--runs", str(tmp_path / "runs"), "--no-pdf",
               "--notebooks", str(Path(__file__).resolve().parents[2] / "notebooks"),
               "-p", "smoke", "true", "-p", "epochs", "1", "-p", "seeds", "[0, 1]",
               "-p", "diagram_size", "64",  # the diagrams at 512 px cost 10 s and test nothing of the data
               "-p", "methods_langs", '["en"]',  # nor do their Chinese PDFs (15 s; tests/report/test_methods.py)
               "-p", "n_samples", "4", "-p", "n_predictions", "2"])  # the notebook test's sizes
    assert rc == 0, capsys.readouterr().err[-3000:]
    classes = pd.read_csv(out / "tables" / "dataset_classes.csv")
    assert classes["Class"].tolist()[:3] == ["sky", "building", "pole"] and len(classes) == 11
    per_class = pd.read_csv(out / "tables" / "training_per_class.csv")
    assert len(per_class) == 11 and per_class["class"].iloc[-1] == "bicyclist" and "IoU std" in per_class
    caption = (out / "tables" / "training_per_class.md").read_text(encoding="utf-8").splitlines()[0]
    assert "camvid" in caption and "seeds 0, 1 (n = 2" in caption and "12 train / 4 val images" in caption
    assert "scored on the test split (4 images), checkpoint chosen on val" in caption
    sizes = pd.read_csv(out / "tables" / "dataset_image_sizes.csv")
    assert sizes[["Size", "Images"]].values.tolist()[0][0] == "480x360" and len(sizes) == 1
    for fig in ("dataset_samples", "training_curves", "paper_confusion_matrix", "paper_predictions"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 2000, fig
    pages = sorted(p.name for p in (out / "html").glob("*.html"))
    assert pages == ["00_quickstart.html", "01_dataset_analysis.html", "02_training.html",
                     "06_paper_figures_tables.html"]
    assert "06_paper_figures_tables" in (out / "index.html").read_text()
