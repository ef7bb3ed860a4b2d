"""`setup_notebook`: the one call every report notebook starts with."""
from __future__ import annotations

from pathlib import Path

import torch

from segkit.report import NotebookPaths, setup_notebook


def test_setup_generates_the_asked_data_and_returns_paths(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: monkeypatch.setattr(torch, "get_num_threads", lambda: n))
    paths = setup_notebook(seed=3, threads=1, data_root=str(tmp_path / "data"), runs_dir=str(tmp_path / "runs"),
                           figures_dir=tmp_path / "fig", tables_dir=None, n_images=6, image_size=32,
                           test_fraction=0.2)
    assert isinstance(paths, NotebookPaths) and paths.tables_dir is None
    assert paths.runs_dir == tmp_path / "runs" and isinstance(paths.figures_dir, Path)
    assert len(list((paths.data_root / "JPEGImages").glob("*.jpg"))) == 6
    assert (paths.data_root / "ImageSets" / "Segmentation" / "test.txt").is_file()
    assert torch.get_num_threads() == 1
    assert "data:" in capsys.readouterr().out
    first = torch.rand(3)
    setup_notebook(seed=3)  # no data asked for: only seeds and style
    assert torch.equal(torch.rand(3), first)  # the same seed gives the same draws
