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
    assert isinstance(paths, NotebookPaths) and paths.tables_dir == Path("../reports/quick/data/tables")  # the default
    assert paths.runs_dir == tmp_path / "runs" and isinstance(paths.figures_dir, Path)
    assert len(list((paths.data_root / "JPEGImages").glob("*.jpg"))) == 6
    assert (paths.data_root / "ImageSets" / "Segmentation" / "test.txt").is_file()
    assert torch.get_num_threads() == 1
    assert "data:" in capsys.readouterr().out
    first = torch.rand(3)
    setup_notebook(seed=3)  # no data asked for: only seeds and style
    assert torch.equal(torch.rand(3), first)  # the same seed gives the same draws


def test_default_outputs_follow_the_dataset_name(tmp_path, capsys, monkeypatch):
    from segkit.report import output_paths

    monkeypatch.chdir(tmp_path)  # JupyterLab runs a notebook in its own folder
    paths = setup_notebook(data_root=str(tmp_path / "mine"), n_images=4, image_size=32, profile="paper")
    assert paths.runs_dir == Path("../runs/paper/mine") and paths.figures_dir == Path("../reports/paper/mine/figures")
    assert f"(relative paths are read from {tmp_path}" in capsys.readouterr().out
    assert output_paths("segkit/profiles/quick.yaml", "data/x")["out_dir"] == Path("reports/quick/x")


def test_notebooks_are_found_from_any_folder_and_copied_without_overwriting(tmp_path, monkeypatch):
    import segkit
    from segkit.report.runner import copy_notebooks, find_notebooks

    repo = Path(segkit.__file__).resolve().parents[1]
    monkeypatch.chdir(tmp_path)  # not a clone: no ./notebooks
    assert [p.parent for p in find_notebooks()][0] == repo / "notebooks"
    installed = tmp_path / "site" / "segkit"  # a pip install: setup.py maps notebooks/ to segkit/notebooks/
    (installed / "notebooks").mkdir(parents=True)
    (installed / "notebooks" / "00_only.ipynb").write_text("{}")
    monkeypatch.setattr(segkit, "__file__", str(installed / "__init__.py"))
    assert find_notebooks() == [installed / "notebooks" / "00_only.ipynb"]
    assert "segkit.notebooks" in (repo / "setup.py").read_text() and '"notebooks"' in (repo / "setup.py").read_text()

    from segkit.cli import main

    assert main(["notebooks", "copy"]) == 0 and (tmp_path / "copy" / "00_only.ipynb").read_text() == "{}"
    (tmp_path / "copy" / "00_only.ipynb").write_text("my edits")
    assert main(["notebooks", "copy"]) == 1  # refused: nothing replaced
    assert (tmp_path / "copy" / "00_only.ipynb").read_text() == "my edits"
    assert copy_notebooks(tmp_path / "other") == [tmp_path / "other" / "00_only.ipynb"]
