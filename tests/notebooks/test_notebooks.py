"""Every notebook executed by papermill with tiny parameters, and the artefacts each writes.

One test per notebook. The notebooks share one run directory (like `segkit report`): 02 trains
the main model, 03 the backbones that 05 explains, 04 the ablation, and 06 only reads what is
there, so a test runs the notebooks before it first when they have not run yet.
A failing notebook must stop `segkit report` with its name and cell and keep the partial
output.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pandas as pd
import pytest

from segkit.report.pipeline.kernels import KernelPool
from segkit.report.pipeline.runner import KERNEL_ARGUMENTS, declared_parameters, run_notebook

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"

pytestmark = pytest.mark.slow  # `make test` runs each file on one worker (--dist loadfile)

TWO_BACKBONES = [{"name": "deeplabv3plus-mobilenetv2", "label": "MobileNetV2"},
                 {"name": "improved-mobilenetv2", "label": "Improved MobileNetV2"}]

# Tiny per-notebook parameters on top of the shared ones (CPU, 64 px, 1 epoch, capped batches).
TINY: dict[str, dict] = {
    "00_quickstart": {"epochs": 1},
    "01_dataset_analysis": {"n_samples": 4},
    "02_training": {"epochs": 2, "seeds": [0, 1]},
    "03_backbone_comparison": {"models": TWO_BACKBONES, "epochs": 2, "bench_runs": 2, "seeds": [0, 1]},
    "04_attention_ablation": {"epochs": 2, "bench_runs": 2, "workers": 1, "attentions": ["se"], "sff_groups": [1, 2],
                              "seeds": [0, 1], "paper_dataset": True,  # the side-by-side path (03, 06: without)
                              "aspp_variants": ["msa_aspp"],
                              "placements": [{"name": "ggca-idx4", "model": "improved-mobilenetv2",
                                              "label": "GGCA idx≥4 (paper's placement)"}]},
    "05_gradcam": {"epochs": 2, "n_show": 1, "seeds": [0, 1]},
    "06_paper_figures_tables": {"n_predictions": 2, "seeds": [0, 1], "diagram_size": 64,
                                "methods_langs": ["en"]},  # Chinese: tests/report/test_methods.py
    "07_module_stitching": {"epochs": 2, "seeds": [0, 1]},
    "08_model_zoo": {"pattern": "deeplabv3plus-mobilenetv*2", "bench_runs": 1},  # base, -sff2, -wa-aspp-v2
    "09_domain_adaptation": {"epochs": 2, "seeds": [0, 1], "adapt_epochs": 1},
    "10_full_model_ablation": {"epochs": 2, "bench_runs": 2, "seeds": [0, 1], "rows": [[], ["ggca"], ["ggca", "sff", "aspp"]],
                               "remedies": ["warm_start", "zero_gate"], "remedy_seeds": [1], "cost_sizes": [64]},
}


DATA = {"n_images": 40, "test_fraction": 0.2}  # the notebooks' data parameters, matching the generated set


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The shared folders, and the kernels: as in `segkit report`, the next notebook's kernel
    starts and imports segkit while one runs (``segkit.report.pipeline.kernels``)."""
    from segkit.data import make_synthetic_wirerope

    root = tmp_path_factory.mktemp("nbrun")
    data = make_synthetic_wirerope(root / "wirerope", size=64, seed=0, **DATA)  # its own: with a test split
    d = {"root": root, "data_root": data, "runs_dir": root / "runs", "figures_dir": root / "figures",
         "tables_dir": root / "tables", "out_dir": root / "out"}
    with KernelPool(None, KERNEL_ARGUMENTS) as kernels:
        yield {**d, "kernels": kernels}


def _run(name: str, workdir: dict[str, Any]) -> nbformat.NotebookNode:
    kernels = workdir["kernels"]
    params = {k: str(v) for k, v in workdir.items() if k not in ("root", "kernels")}
    params.update(profile="quick", device="cpu", smoke=True, image_size=64, batch_size=4, seed=0, threads=1,
                  synthetic={}, **DATA, **TINY[name])  # synthetic={}: the generated set's defaults are not compared
    declared = declared_parameters(NOTEBOOKS / f"{name}.ipynb")
    unknown = set(TINY[name]) - set(declared)
    assert not unknown, f"{name} does not declare {unknown}"
    out = workdir["out_dir"] / f"{name}.ipynb"
    params = {k: v for k, v in params.items() if k in declared}
    then = NOTEBOOKS / f"{NAMES[NAMES.index(name) + 1]}.ipynb" if name != NAMES[-1] else None
    with kernels.kernel(NOTEBOOKS / f"{name}.ipynb", then=then) as km:
        run_notebook(NOTEBOOKS / f"{name}.ipynb", out, params, progress_bar=False, execution_timeout=600, km=km)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    return nb


def _figures(workdir, *names: str) -> None:
    for n in names:
        png, pdf = workdir["figures_dir"] / f"{n}.png", workdir["figures_dir"] / f"{n}.pdf"
        assert png.is_file() and png.stat().st_size > 2000, png
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf
        assert (workdir["figures_dir"] / f"{n}.json").is_file()  # parameters saved beside it


def _tables(workdir, *names: str) -> dict[str, pd.DataFrame]:
    out = {}
    for n in names:
        for ext in ("md", "tex", "csv"):
            p = workdir["tables_dir"] / f"{n}.{ext}"
            assert p.is_file() and p.stat().st_size > 0, p
        assert "\\toprule" in (workdir["tables_dir"] / f"{n}.tex").read_text()
        out[n] = pd.read_csv(workdir["tables_dir"] / f"{n}.csv")
        assert len(out[n]) > 0
    return out


def test_notebooks_are_committed_without_outputs_and_with_a_parameters_cell():
    names = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert names == sorted(TINY)
    for name in names:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        assert tagged == [1], f"{name}: one parameters cell, right after the title"
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
        # papermill must parse every assignment of the parameters cell (a comment can break a line)
        assigned = {m.group(1) for ln in nb.cells[1].source.splitlines()
                    if (m := re.match(r"^([A-Za-z_]\w*)\s*=", ln))}
        assert assigned <= set(declared_parameters(NOTEBOOKS / f"{name}.ipynb")), name
        src = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "Purpose" in src and "Summary" in src, name


def test_no_notebook_builds_a_model_for_a_fixed_class_count():
    # a model built with num_classes=3 and trained on --data of another class count fails there
    # (notebook 07 did, on 4-class data); the count comes from the data or a parameter
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells[2:] if c.cell_type == "code")  # after the parameters cell
        assert not re.search(r"num_classes\s*=\s*\d", code), path.name


def _check_00_quickstart(workdir):
    nb = _run("00_quickstart", workdir)
    text = json.dumps(nb.cells[-4:]) + json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "-> logits (1, 3, 64, 64)" in text
    assert (workdir["runs_dir"] / "quickstart" / "deeplabv3plus-mobilenetv2" / "metrics.json").is_file()


def _check_01_dataset_analysis(workdir):
    _run("01_dataset_analysis", workdir)
    t = _tables(workdir, "dataset_classes", "dataset_image_sizes", "dataset_mean_std")
    assert t["dataset_classes"]["Class"].tolist() == ["background", "corrosion", "broken_wire"]
    assert t["dataset_classes"]["Pixel share(%)"].sum() == pytest.approx(100.0, abs=1e-6)
    assert "### 中文" in (workdir["tables_dir"] / "dataset_classes_text.md").read_text(encoding="utf-8")
    _figures(workdir, "dataset_class_distribution", "dataset_object_sizes", "dataset_samples")


def _check_02_training(workdir):
    _run("02_training", workdir)
    for seed in (0, 1):
        run = workdir["runs_dir"] / "training" / "improved-mobilenetv2" / f"seed{seed}"
        assert len(pd.read_csv(run / "history.csv")) == 2
    per_class = _tables(workdir, "training_per_class")["training_per_class"]
    assert "IoU std" in per_class.columns  # mean and std over the two seeds
    caption = (workdir["tables_dir"] / "training_per_class.md").read_text(encoding="utf-8")
    assert "seeds 0, 1 (n = 2" in caption and "64×64 px, 2 epochs" in caption
    _figures(workdir, "training_curves", "training_class_iou", "training_per_class", "training_confusion_matrix",
             "training_boundary_bands", "training_objects")
    edges = _tables(workdir, "training_edges_objects")["training_edges_objects"]
    assert {"Boundary mIoU(%)", "Boundary mIoU fg(%)", "Det. small(%)", "FP/img"} <= set(edges.columns)
    assert 0 <= edges["Boundary mIoU(%)"].iloc[0] <= 100  # the runs' metrics.json carry boundary IoU


def _check_03_backbone_comparison(workdir):
    _run("03_backbone_comparison", workdir)
    t = _tables(workdir, "backbone_comparison")
    ours = t["backbone_comparison"].set_index("Model")
    assert list(ours.index) == ["MobileNetV2", "Improved MobileNetV2"]
    # parameter counts are known: 5,813,523 and 5,842,770 at 3 classes (docs/models.md)
    assert ours.loc["MobileNetV2", "Parameter(M)"] == pytest.approx(5.813523, abs=1e-6)
    assert ours.loc["Improved MobileNetV2", "Parameter(M)"] == pytest.approx(5.842770, abs=1e-6)
    assert ((ours["mIoU(%)"] >= 0) & (ours["mIoU(%)"] <= 100)).all() and (ours["FPS(f/s)"] > 0).all()
    # synthetic data is not the paper's: its Table 1 is shown alone, never beside ours
    assert not list(workdir["tables_dir"].glob("backbone_comparison_vs_paper.*"))
    assert not list(workdir["figures_dir"].glob("backbone_ours_vs_paper.*"))
    assert {"IoU corrosion(%)", "IoU broken_wire(%)", "Not learned"} <= set(ours.columns)
    assert ours["n"].tolist() == [2, 2] and "95% CI (seeds)" in ours.columns
    assert ours.loc["MobileNetV2", "95% CI (seeds)"] == "–"
    learned = (ours["Not learned"] == "–").all()  # a 2-epoch smoke run may not have learned a defect class
    assert ours.loc["Improved MobileNetV2", "95% CI (seeds)"].startswith("[" if learned else "n/a (not learned)")
    md = (workdir["tables_dir"] / "backbone_comparison_text.md").read_text(encoding="utf-8")
    assert "The baseline, MobileNetV2, reaches" in md and "基线 MobileNetV2" in md
    # the two metrics the paper's claims are tested on, stated for the backbones without a verdict on a claim
    assert {"Det. small(%)", "Boundary mIoU fg(%)"} <= set(ours.columns) and "FP/img" not in ours.columns
    assert "The share of small objects found, pooled over the defect classes" in md and "小目标检出率" in md
    assert "The boundary IoU, mean over the classes but the background" in md
    assert "The small-target claim" not in md and "The edge claim" not in md  # backbones: no verdict on a claim
    # the improved model has the same setup as notebook 02's runs: linked, so one number in both tables
    for seed in (0, 1):
        a, b = (json.loads((workdir["runs_dir"] / e / "improved-mobilenetv2" / f"seed{seed}" / "metrics.json")
                           .read_text()) for e in ("training", "backbones"))
        assert a["miou"] == b["miou"] and a["split"] == b["split"]
    _figures(workdir, "backbone_miou_vs_fps")


def _check_04_attention_ablation(workdir):
    _run("04_attention_ablation", workdir)
    t = _tables(workdir, "ablation_attention", "ablation_sff", "ablation_sff_vs_paper", "ablation_aspp")
    assert t["ablation_attention"]["Model"].tolist() == ["Baseline (MobileNetV2)", "GGCA idx≥4 (paper's placement)",
                                                         "SE idx≥4"]
    # one setup, one baseline number: the ablation's baseline is notebook 03's MobileNetV2
    base = t["ablation_attention"].set_index("Model").loc["Baseline (MobileNetV2)", "mIoU(%)"]
    bb = pd.read_csv(workdir["tables_dir"] / "backbone_comparison.csv").set_index("Model").loc["MobileNetV2", "mIoU(%)"]
    assert base == pytest.approx(bb)
    sff = t["ablation_sff"]
    # the paper's channel groups: (24, 32 -> 32) and (24, 32 -> 56)
    assert sff[["F1 channels", "F2 channels", "Out channels"]].values.tolist() == [[24, 32, 32], [24, 32, 56]]
    assert t["ablation_sff_vs_paper"]["mIoU(%) (paper)"].tolist() == [66.9, 68.03]
    assert t["ablation_aspp"]["Model"].tolist() == ["Baseline (MobileNetV2)", "MSA-ASPP"]
    # small targets for the attention placements and the ASPP heads, edges for the SFF groups
    for name, cols in (("ablation_attention", {"Det. small(%)", "Det. large(%)", "FP/img", "IoU broken_wire(%)"}),
                       ("ablation_aspp", {"Det. small(%)", "FP/img", "Not learned"}),
                       ("ablation_sff", {"Boundary mIoU(%)", "Boundary mIoU fg(%)", "BIoU broken_wire(%)"})):
        assert cols <= set(t[name].columns), (name, t[name].columns)
    text = {n: (workdir["tables_dir"] / f"ablation_{n}_text.md").read_text(encoding="utf-8") for n in ("aspp", "sff")}
    assert "The small-target claim (the share of small objects found" in text["aspp"] and "小目标结论" in text["aspp"]
    pair = r"{} (against|is below) Baseline \(MobileNetV2\)"  # the pair is named, whatever the verdict
    assert re.search(pair.format("MSA-ASPP"), text["aspp"]) and re.search(pair.format("SFF group 2"), text["sff"])
    assert text["sff"].count("The edge claim (the boundary IoU") == 2
    assert "边缘结论" in text["sff"]
    attn = (workdir["tables_dir"] / "ablation_attention_text.md").read_text(encoding="utf-8")
    assert "The share of small objects found" in attn and "small-target claim" not in attn  # attention in the backbone
    tex = (workdir["tables_dir"] / "ablation_attention.tex").read_text(encoding="utf-8")
    assert r"GGCA idx$\geq$4 (paper's placement)" in tex and "≥" not in tex
    _figures(workdir, "ablation_attention_miou_vs_fps", "ablation_sff_ours_vs_paper")


def _check_05_gradcam(workdir):
    _run("05_gradcam", workdir)
    _figures(workdir, "gradcam_baseline_vs_improved", "attention_ggca")


def _check_06_paper_figures_tables(workdir):
    _run("06_paper_figures_tables", workdir)
    t = _tables(workdir, "paper_table1_ours", "paper_table2_ours", "paper_per_class")
    assert not list(workdir["tables_dir"].glob("paper_table1_vs_paper.*"))  # not the paper's data
    assert t["paper_table1_ours"]["Model"].tolist() == ["MobileNetV2", "Improved MobileNetV2"]
    assert t["paper_table2_ours"]["Groups"].astype(str).tolist() == ["group 1", "group 2"]
    for name in ("paper_table1", "paper_table2", "paper_claims"):
        assert (workdir["tables_dir"] / f"{name}_text.md").stat().st_size > 50
    assert {"Det. small(%)", "Boundary mIoU fg(%)"} <= set(t["paper_table1_ours"].columns)
    assert "BIoU corrosion(%)" in t["paper_table2_ours"].columns
    aspp = _tables(workdir, "paper_aspp_ours")["paper_aspp_ours"]
    assert aspp["Model"].tolist() == ["Baseline (MobileNetV2)", "MSA-ASPP"] and "Det. medium(%)" in aspp.columns
    claims = (workdir["tables_dir"] / "paper_claims_text.md").read_text(encoding="utf-8")
    assert claims.count("The small-target claim") == 1 and claims.count("The edge claim") == 2
    assert "SFF group 1" in claims and "小目标结论" in claims and "边缘结论" in claims
    _figures(workdir, "paper_table1_miou_vs_fps", "paper_table1_reference_miou_vs_fps", "paper_training_curves",
             "paper_per_class", "paper_confusion_matrix", "paper_predictions", "paper_tp_fp_fn")
    methods = workdir["out_dir"] / "methods"  # the methods section: figures in every language drawn here
    for stem in ("architecture_sff-wadeeplab", "architecture_improved-mobilenetv2", "module_ir_ggca", "module_sff",
                 "module_msa_aspp", "augmentations"):
        for ext in ("png", "pdf", "svg", "json"):
            assert (methods / f"{stem}_en.{ext}").is_file(), (stem, ext)
    assert not list(methods.glob("*_zh.*"))  # methods_langs=["en"]
    arch = json.loads((methods / "architecture_improved-mobilenetv2_en.json").read_text(encoding="utf-8"))
    assert {"name": "GGCA", "path": "backbone.features.11–13.attn", "stitched": False} in arch["marks"]
    assert "\\subsection{GGCA: global grouped coordinate attention}" in (methods / "methods.tex").read_text()
    assert "Images containing each class" in (methods / "dataset_text.md").read_text(encoding="utf-8")
    assert "The learning rate training used was" in (methods / "training_text.md").read_text(encoding="utf-8")
    assert (methods / "dataset.tex").is_file()


def _check_07_module_stitching(workdir):
    nb = _run("07_module_stitching", workdir)
    outs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "inserted" in outs and "output (1, 3, 64, 64)" in outs
    assert "serial   (2, 32, 16, 16)" in outs and "parallel (2, 32, 16, 16)" in outs
    assert "reloaded: Stitched at backbone.features.7" in outs and "val mIoU after one epoch" in outs
    # staged training: a frozen-backbone stage, then unfrozen, the EMA weights evaluated, the stop rule counted
    assert "stages: freeze -> unfreeze" in outs and "EMA 0.9" in outs and "early_stop_wait" in outs
    hist = pd.read_csv(workdir["runs_dir"] / "stitching" / "deeplabv3plus-mobilenetv2-staged" / "history.csv")
    assert list(hist["stage"][:2]) == ["freeze", "freeze"] and set(hist["weights"]) == {"ema"}
    # seeded comparison: scratch (notebook 03's MobileNetV2 runs, linked), a pretrained backbone, an EMA
    t = _tables(workdir, "training_options")["training_options"]
    assert t["Model"].tolist() == ["From scratch", "Pretrained backbone", "From scratch + EMA 0.9"]
    assert t["n"].tolist() == [2, 2, 2] and "95% CI (seeds)" in t.columns
    opts = workdir["runs_dir"] / "training-options"
    for seed in (0, 1):
        scratch, base = (json.loads((d / f"seed{seed}" / "metrics.json").read_text()) for d in
                         (opts / "baseline", workdir["runs_dir"] / "backbones" / "deeplabv3plus-mobilenetv2"))
        assert scratch["miou"] == base["miou"]
        cfg = (opts / "pretrained" / f"seed{seed}" / "config.yaml").read_text()
        assert "pretrained-backbone.pt" in cfg
        assert set(pd.read_csv(opts / "ema" / f"seed{seed}" / "history.csv")["weights"]) == {"ema"}


def _check_08_model_zoo(workdir):
    _run("08_model_zoo", workdir)
    zoo = _tables(workdir, "model_zoo")["model_zoo"]
    assert "deeplabv3plus-mobilenetv2" in set(zoo["Model"])
    row = zoo.set_index("Model").loc["deeplabv3plus-mobilenetv2"]
    assert row["Parameter(M)"] == pytest.approx(5.81, abs=0.01)
    _figures(workdir, "model_zoo_flops_vs_latency")


def _check_09_domain_adaptation(workdir):
    _run("09_domain_adaptation", workdir)
    # both stages train on letterboxed images, so the source-only model is trained without the quick
    # profile's crops (it is not notebook 03's baseline, which trains on crops)
    for seed in (0, 1):
        run = workdir["runs_dir"] / "adaptation" / "deeplabv3plus-mobilenetv2" / f"seed{seed}"
        stages = json.loads((run / "stages.json").read_text())["stages"]
        assert list(stages) == ["source", "pseudo_labels", "adaptation", "evaluation"]
        assert 0 <= stages["source"]["source_miou"] <= 1
    t = _tables(workdir, "adaptation_target_miou")["adaptation_target_miou"]
    assert t["Model"].tolist() == ["Source-only", "Adapted (MPA)"] and t["n"].tolist() == [2, 2]
    learned = (t["Not learned"] == "–").all()  # tiny runs usually learn nothing: no interval is evidence then
    for col in ("95% CI (seeds)", "95% CI (images)"):
        assert t.loc[1, col].startswith("[") if learned else t.loc[1, col] == "n/a (not learned)", t.loc[1, col]
    md = (workdir["tables_dir"] / "adaptation_text.md").read_text(encoding="utf-8")
    assert "The baseline, Source-only, reaches" in md
    _figures(workdir, "adaptation_shift", "adaptation_pseudo_labels", "adaptation_prototypes")


def _check_10_full_model_ablation(workdir):
    _run("10_full_model_ablation", workdir)
    t = _tables(workdir, "combination", "combination_remedies", "combination_cost_64")
    combo = t["combination"]
    assert combo["Model"].tolist() == ["Baseline (MobileNetV2)", "GGCA", "Full (GGCA + SFF + MSA-ASPP)"]
    assert {"ΔmIoU vs best single", "95% CI (seeds) vs best single", "95% CI (images) vs best single"} <= set(combo)
    text = (workdir["tables_dir"] / "combination_text.md").read_text(encoding="utf-8")
    assert "best single module, GGCA" in text  # the only single module is the best one
    fixes = t["combination_remedies"]
    assert fixes["Model"].tolist() == ["Full (GGCA + SFF + MSA-ASPP)", "Full + warm start from the single-module runs",
                                       "Full + zero-initialised gates"]
    assert "ΔmIoU vs best single" in fixes and fixes["n"].tolist() == [2, 1, 1]  # the remedies on their own seed
    remedy = workdir["runs_dir"] / "combination" / "full+warm-start"
    assert not (remedy / "seed0").exists()
    warm = (remedy / "seed1" / "config.yaml").read_text()
    assert "combination/ggca/seed1" in warm  # each seed starts from the same seed's single-module run
    cost = t["combination_cost_64"].set_index("part")
    assert {"backbone", "GGCA", "SFF", "ASPP", "decoder", "total"} <= set(cost.index)
    _figures(workdir, "combination_miou_vs_fps", "combination_cost")


CHECKS = {n: globals()[f"_check_{n}"] for n in TINY}
NAMES = list(TINY)


@pytest.fixture(scope="module")
def executed() -> dict[str, bool]:
    """Notebooks this module has run: name -> True (passed its checks) or False (failed)."""
    return {}


def _execute(name: str, workdir: dict[str, Path], executed: dict[str, bool]) -> None:
    executed[name] = False
    CHECKS[name](workdir)
    executed[name] = True


def _run_earlier(name: str, workdir: dict[str, Path], executed: dict[str, bool]) -> None:
    """Run the notebooks before ``name`` that have not run yet (later ones read their runs)."""
    for earlier in NAMES[:NAMES.index(name)] if name in NAMES else NAMES:
        if earlier not in executed:
            _execute(earlier, workdir, executed)
        if not executed[earlier]:
            pytest.skip(f"{earlier} failed, and {name} reads what it writes")


@pytest.mark.parametrize("name", NAMES)
def test_notebook(name, workdir, executed):
    """One notebook with tiny parameters, and the artefacts it writes.

    The notebooks share one run directory, as in `segkit report`: 02 trains the main model, 03
    the backbones that 04, 05 and 09 reuse, 06 reads what is there. Run alone, a test first runs
    the notebooks before it.
    """
    _run_earlier(name, workdir, executed)
    _execute(name, workdir, executed)


def test_every_latex_table_compiles(workdir, executed):
    _run_earlier("latex", workdir, executed)
    _compile_tex_tables(workdir["tables_dir"])


def _compile_tex_tables(tables_dir: Path) -> None:
    """Every .tex table the notebooks wrote compiles in a plain article with booktabs (when a LaTeX engine exists)."""
    from segkit.report.latex import compile_latex, latex_document, latex_engine

    if latex_engine() is None:
        return  # no LaTeX here (`apt-get install texlive-latex-recommended` enables this check)
    tables = sorted(tables_dir.glob("*.tex"))
    assert tables
    doc = tables_dir.parent / "all_tables.tex"
    doc.write_text(latex_document(tables, ("booktabs",)), encoding="utf-8")
    compile_latex(doc)


# ----------------------------------------------------------------------------- failure


def _write_nb(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("data_root = ''\nout_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), params] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_failing_notebook_stops_the_report_naming_notebook_and_cell(tmp_path, synthetic_root, capsys, monkeypatch):
    from segkit.cli import main

    # these notebooks import nothing: no kernel warm-up (tests/report covers it), 13 s less
    monkeypatch.setattr("segkit.report.pipeline.kernels.WARM_UP", "pass")

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "00_ok.ipynb", ["print('fine')"])
    _write_nb(nbs / "01_broken.ipynb", ["x = 1", "raise ValueError('boom: the data is wrong')", "print('never')"])
    _write_nb(nbs / "02_after.ipynb", ["print('not reached')"])
    out = tmp_path / "report"
    rc = main(["report", "--notebooks", str(nbs), "--data", str(synthetic_root), "--out", str(out),
               "--figures", str(tmp_path / "fig"), "--runs", str(tmp_path / "runs"), "--no-pdf"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "notebook 01_broken failed in cell 4" in err  # 0 title, 1 parameters, 2 injected, 3 x = 1
    assert "ValueError: boom: the data is wrong" in err and "raise ValueError" in err
    partial = nbformat.read(out / "notebooks" / "01_broken.ipynb", as_version=4)
    code = {c.source: c for c in partial.cells if c.cell_type == "code"}
    assert code["x = 1"].execution_count is not None  # ran before the failure
    failed = code["raise ValueError('boom: the data is wrong')"]
    assert [o.output_type for o in failed.outputs] == ["error"]
    assert code["print('never')"].execution_count is None  # nothing ran after it
    assert (out / "notebooks" / "00_ok.ipynb").is_file() and not (out / "notebooks" / "02_after.ipynb").exists()
    assert str(out / "notebooks" / "01_broken.ipynb") in err


def test_a_stuck_cell_times_out_and_is_named(tmp_path):
    from segkit.report.runner import NotebookFailedError

    _write_nb(tmp_path / "00_slow.ipynb", ["x = 1", "import time\ntime.sleep(60)"])
    with pytest.raises(NotebookFailedError) as info:
        run_notebook(tmp_path / "00_slow.ipynb", tmp_path / "out.ipynb", {}, progress_bar=False, execution_timeout=3)
    msg = str(info.value)
    assert "notebook 00_slow failed" in msg and "CellTimeoutError" in msg and "time.sleep(60)" in msg
    assert (tmp_path / "out.ipynb").is_file()
