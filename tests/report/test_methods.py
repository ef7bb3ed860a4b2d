"""The methods section from the code: architecture diagrams, module figures, formulas, dataset and training text."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import segkit
from segkit.report import methods as rm

REPO = Path(__file__).resolve().parents[2]
SIZE = 64  # probe input: every paper model runs at 64 (MSA-ASPP's 2x2 patches on the 4x4 map)


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]


# ----------------------------------------------------------------------------- architecture diagrams


def test_a_stitched_module_is_named_at_its_path_in_the_diagram():
    model = segkit.build_model("deeplabv3plus-mobilenetv2", num_classes=3,
                               stitches=[{"at": "backbone.features.7", "module": "cbam"},
                                         {"at": "shortcut_conv", "module": "se"}])
    arch = rm.describe_architecture(model, SIZE)
    marks = {m.path: m for m in arch.marks}
    cbam, se = marks["backbone.features.7.cbam"], marks["shortcut_conv.se"]
    assert (cbam.name, cbam.stitched, se.name, se.stitched) == ("CBAM", True, "SE", True)
    assert "backbone.features.7" in arch.node(cbam.host).paths  # on the stage holding block 7 (64 ch, 1/16)
    assert arch.node(cbam.host).shape == (1, 64, 4, 4)
    assert se.host == "shortcut"  # a stitch in the decoder sits on the decoder's node
    texts = _texts(rm.plot_architecture(arch, lang="en"))
    assert "backbone.features.7.cbam" in texts and "CBAM (stitched)" in texts
    assert "shortcut_conv.se" in texts and "SE (stitched)" in texts


def test_the_attention_policy_is_marked_per_stage_with_its_block_paths():
    arch = rm.describe_architecture(segkit.build_model("improved-mobilenetv2", num_classes=3), SIZE)
    got = [(m.name, m.path, m.count, m.stitched) for m in arch.marks]
    assert got == [("GGCA", "backbone.features.11–13.attn", 3, False), ("GGCA", "backbone.features.15–16.attn", 2, False),
                   ("GGCA", "backbone.features.17.attn", 1, False)]
    assert len({m.host for m in arch.marks}) == 3  # the 96-, 160- and 320-channel stages


def test_deeplabv3plus_is_described_with_forward_pass_shapes():
    arch = rm.describe_architecture(segkit.build_model("deeplabv3plus-mobilenetv2", num_classes=3), SIZE)
    assert arch.kind == "deeplabv3plus" and arch.backbone == "MobileNetV2" and not arch.marks
    shapes = [n.shape[1:] for n in arch.stages]
    assert shapes == [(32, 32, 32), (16, 32, 32), (24, 16, 16), (32, 8, 8), (64, 4, 4), (96, 4, 4), (160, 4, 4),
                      (320, 4, 4)]
    assert arch.node(arch.low).shape == (1, 24, 16, 16)  # the low-level tap: features[:4]
    assert arch.stages[-1].text["en"].splitlines() == ["features.17 · IR", "320 ch · 1/16, d=2 · 4×4"]
    assert [b.text["en"] for b in arch.branches] == ["1×1 conv", "3×3 conv, rate 6", "3×3 conv, rate 12",
                                                     "3×3 conv, rate 18", "Image pooling"]
    dec = {d.key: d for d in arch.decoder}
    assert dec["concat"].text["en"] == "304 ch" and dec["up1"].text["en"] == "×4"
    assert arch.output.shape == (1, 3, SIZE, SIZE)


def test_the_final_model_shows_sff_taps_msa_aspp_and_both_languages():
    arch = rm.describe_architecture(segkit.build_model("sff-wadeeplab", num_classes=3), SIZE)
    f1, f2 = (arch.node(k) for k in arch.fusion_inputs)
    assert "backbone.features.3" in f1.paths and "backbone.features.6" in f2.paths
    assert arch.fusion.shape == (1, 56, 16, 16)
    assert arch.head.text["en"] == "MSA-ASPP (256 ch)"
    assert arch.branches[1].text["en"] == "MobileViT 2×2 → 1×1 → gate"
    zh = _texts(rm.plot_architecture(arch, lang="zh"))
    if rm.label_languages() == ["en", "zh"]:  # a CJK font: Chinese labels
        assert "解码器" in zh and "输入图像" in zh
    else:  # none: English labels, never empty boxes
        assert "Decoder" in zh


@pytest.mark.parametrize("name", ["deeplabv3-mobilenetv2", "unet"])
def test_other_families_draw(name):
    arch = rm.describe_architecture(segkit.build_model(name, num_classes=3), SIZE)
    assert arch.kind == ("deeplabv3" if name.startswith("deeplab") else "chain")
    assert arch.stages and _texts(rm.plot_architecture(arch, lang="en"))


# ----------------------------------------------------------------------------- module figures


def test_module_figures_carry_the_modules_real_widths():
    improved = segkit.build_model("improved-mobilenetv2", num_classes=3)
    assert rm.find_attention_block(improved) == "backbone.features.12"  # the first GGCA block with a residual
    texts = _texts(rm.plot_ir_ggca(improved, input_size=SIZE))
    assert "GGCAFused (G=4, r=16)" in texts
    assert any("1×1 conv 144→9" in t for t in texts)  # 576 hidden / 4 groups = 144, 144 // 16 = 9
    final = segkit.build_model("sff-wadeeplab", num_classes=3)
    texts = _texts(rm.plot_sff(final, input_size=SIZE))
    assert "F1 = features[:4]" in texts and "F2 = features[4:7]" in texts and "56×16×16" in texts
    texts = _texts(rm.plot_aspp_head(final, input_size=SIZE))
    assert "MobileViT block 2×2" in texts and "Gate" in texts
    with pytest.raises(ValueError, match="no shallow feature fusion"):
        rm.plot_sff(improved, input_size=SIZE)


def test_module_figures_draw_in_chinese():
    """Notebook 06 draws the module figures in each language of `methods_langs`; its test asks for
    English only (a Chinese PDF embeds a CJK font subset, about 2 s a figure), so Chinese is drawn here."""
    improved = segkit.build_model("improved-mobilenetv2", num_classes=3)
    final = segkit.build_model("sff-wadeeplab", num_classes=3)
    figures = {"ir_ggca": rm.plot_ir_ggca(improved, input_size=SIZE, lang="zh"),
               "sff": rm.plot_sff(final, input_size=SIZE, lang="zh"),
               "aspp": rm.plot_aspp_head(final, input_size=SIZE, lang="zh")}
    texts = {k: _texts(f) for k, f in figures.items()}
    if rm.label_languages() == ["en", "zh"]:  # a CJK font: Chinese labels
        assert "恒等捷径" in texts["ir_ggca"] and "深度可分离卷积 24→24" in texts["sff"] and "通道门控" in texts["aspp"]
    else:  # none: English labels, never empty boxes
        assert "Gate" in texts["aspp"]


def test_figures_are_saved_as_png_pdf_svg_and_json(tmp_path):
    arch = rm.describe_architecture(segkit.build_model("deeplabv3plus-mobilenetv2", num_classes=3), SIZE)
    saved = rm.save_in_languages(lambda lang: rm.plot_architecture(arch, lang=lang), "arch", tmp_path,
                                 params=rm.architecture_params(arch))
    assert {p.suffix for p in saved["en"]} == {".png", ".pdf", ".svg", ".json"}
    assert (tmp_path / "arch_en.pdf").read_bytes()[:5] == b"%PDF-"
    assert json.loads((tmp_path / "arch_en.json").read_text())["model"] == "deeplabv3plus-mobilenetv2"
    with pytest.raises(ValueError, match=r"langs=\[\] leaves no language to draw"):  # notebook 06's methods_langs=[]
        rm.save_in_languages(lambda lang: rm.plot_architecture(arch, lang=lang), "none", tmp_path, langs=[])


# ----------------------------------------------------------------------------- formulas


def test_formulas_have_one_source_for_latex_markdown_and_docs():
    from segkit.report.methods.formulas import docs_markdown

    tex, md = rm.to_latex(), rm.to_markdown()
    assert tex.isascii()  # pdflatex, xelatex and lualatex alike
    assert tex.count("{") == tex.count("}") and tex.count("\\begin{") == tex.count("\\end{")
    assert tex.count("\\begin{equation}") == md.count("$$") // 2 > 10
    assert "$w = 4, 8, 16$" in md  # WA-ASPP's windows, read from the code's defaults
    assert (REPO / "docs" / "methods.md").read_text(encoding="utf-8") == docs_markdown(), \
        "docs/methods.md is stale: python -m segkit.report.methods docs/methods.md"


@pytest.mark.parametrize("channels, groups, reduction", [(576, 4, 16), (96, 1, 4), (32, 4, 16)])
def test_the_ggca_parameter_formula_in_the_text_counts_the_module(channels, groups, reduction):
    from segkit.modules.ggca import GGCAFused

    assert "$2 C_g m + C_g + 3m$ parameters" in rm.to_markdown()
    cg = channels // groups
    m = max(1, cg // reduction)
    module = GGCAFused(channels, reduction=reduction, num_groups=groups)
    assert sum(p.numel() for p in module.parameters()) == 2 * cg * m + cg + 3 * m


def test_methods_tex_compiles_where_a_latex_engine_exists(tmp_path):
    from segkit.report.latex import latex_engine

    paths = rm.write_formulas(tmp_path)
    assert paths["md"].read_text(encoding="utf-8").startswith("## Notation")
    if latex_engine() is None:
        pytest.skip("no LaTeX engine (apt-get install texlive-latex-recommended enables this check)")
    assert rm.check_latex(paths["tex"]).startswith("compiled with")


# ----------------------------------------------------------------------------- dataset section


def _hand_made(root: Path) -> Path:
    """Five 20x20 images with known classes and objects; 'a' is listed in train and val."""
    from PIL import Image

    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    m = {k: np.zeros((20, 20), np.uint8) for k in "abcde"}
    m["a"][1:3, 1:3] = 1  # one corrosion object of 4 px
    m["b"][5, 5:8] = 2  # two broken-wire objects: 3 px and 1 px
    m["b"][15, 15] = 2
    m["c"][0:2, 0:5] = 1  # corrosion (10 px) and broken wire (6 px) in one image
    m["c"][10:12, 10:13] = 2
    m["e"][4:8, 4:6] = 2  # broken wire, 8 px; "d" is background only
    for k, mask in m.items():
        Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(root / "JPEGImages" / f"{k}.png")
        Image.fromarray(mask).save(root / "SegmentationClass" / f"{k}.png")
    lists = root / "ImageSets" / "Segmentation"
    (lists / "train.txt").write_text("a\nb\nc\n")
    (lists / "val.txt").write_text("d\na\n")
    (lists / "test.txt").write_text("e\n")
    (root / "classes.txt").write_text("background\ncorrosion\nbroken_wire\n")
    return root


def test_dataset_counts_on_a_hand_made_dataset(tmp_path):
    facts = rm.dataset_facts(_hand_made(tmp_path / "voc"))
    assert facts.splits == {"train": 3, "val": 2, "test": 1} and facts.images == 5  # 'a' counted once
    c = facts.classes.set_index("name")
    assert c.loc["corrosion", "images"] == 2 and c.loc["broken_wire", "images"] == 3
    assert c.loc["corrosion", "objects"] == 2 and c.loc["broken_wire", "objects"] == 4
    assert c.loc["corrosion", "area_median"] == 7.0 and c.loc["broken_wire", "area_median"] == 4.5
    assert (facts.several, facts.none) == (1, 1)
    assert facts.combinations == {("broken_wire",): 2, ("corrosion",): 1, ("corrosion", "broken_wire"): 1, (): 1}
    en = rm.dataset_paragraphs(facts)["en"]
    assert "The dataset holds 5 images (all 20×20 pixels)" in en
    assert "corrosion 2 (40.0%), broken\\_wire 3 (60.0%)" in en
    assert "1 image contains more than one defect class (corrosion + broken\\_wire: 1), and 1 contains none" in en
    assert "2 corrosion objects (median area 7 px" in en
    table = rm.dataset_table(facts)
    assert table["Objects"].tolist()[1:] == [2, 4] and table["Objects"].isna().tolist()[0]  # background: not objects


def test_the_augmentation_text_and_figure_come_from_the_transform_training_uses(tmp_path):
    from segkit.engine import TrainConfig

    root = _hand_made(tmp_path / "voc")
    cfg = TrainConfig(input_shape=[16, 16], num_classes=3)
    ds, rare = rm.training_transform(cfg, root)
    text = rm.augmentation_text(cfg, ds, rare)
    assert "a rotation by an integer angle in [-10°, 10°] with probability 0.25" in text["en"]
    assert "padding ignored by the loss" in text["en"] and "letterboxed to 16×16" in text["en"]
    img, mask = ds.load_raw(2)
    fig = rm.plot_augmentations(ds.augment, img, mask, ds.palette, lang="en")
    assert {"horizontal flip", "rotation (max)", "one random draw"} <= set(_texts(fig))
    if rm.label_languages() == ["en", "zh"]:  # notebook 06's test draws English only
        assert {"水平翻转", "一次随机增强"} <= set(_texts(rm.plot_augmentations(ds.augment, img, mask, ds.palette, lang="zh")))
    crop = TrainConfig(input_shape=[16, 16], num_classes=3, train_crop=True, rare_sampling=True)
    ds, rare = rm.training_transform(crop, root)
    text = rm.augmentation_text(crop, ds, rare)["en"]
    assert text.startswith("Training uses 16×16 crops") and "rare-class sampling at temperature 0.01" in text
    assert "crop on a rare class" in _texts(rm.plot_augmentations(ds.augment, img, mask, lang="en"))
    off = TrainConfig(input_shape=[16, 16], num_classes=3, augment=False)
    assert rm.augmentation_text(off, *rm.training_transform(off, root))["en"].startswith("No online augmentation")


def test_example_draws_are_the_transforms_own_draws():
    from segkit.data.transforms import TrainAugment

    rng = np.random.default_rng(0)
    img, mask = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), rng.integers(0, 3, (30, 40), dtype=np.uint8)
    aug = TrainAugment((24, 24))
    ex = aug.examples(img, mask, seeds=(5,))
    assert [n for n, _, _ in ex] == ["input", "aspect", "scale_min", "scale_max", "flip", "blur", "rotate", "hsv", "draw"]
    want = aug(img, mask, np.random.default_rng(5))
    assert np.array_equal(ex[-1][1], want[0]) and np.array_equal(ex[-1][2], want[1])
    assert all(r.shape == (24, 24, 3) and m.shape == (24, 24) for _, r, m in ex)


# ----------------------------------------------------------------------------- training section


def _config(**train) -> dict:
    from segkit.engine import TrainConfig

    cfg = TrainConfig.profile("paper", **train)
    return {"train": cfg.to_dict(), "model": {"name": "sff-wadeeplab"}, "device": "cpu",
            "data": {"class_names": ["background", "corrosion", "broken_wire"], "num_train": 4324, "num_val": 481}}


def test_the_training_paragraph_states_the_learning_rate_training_used():
    clamped = rm.training_paragraphs(_config(Unfreeze_batch_size=1, Init_lr=1e-3))
    # 1e-3 x 1/16 = 6.25e-5 lies below SGD's lower limit 5e-4, which training uses instead
    assert "The learning rate training used was 5e-4, decaying to 5e-6" in clamped["en"]
    assert "scaled by batch / nbs = 1/16 to 6.25e-5, which lies below the lower SGD limit of [5e-4, 0.1], so the " \
           "limit 5e-4 replaced it" in clamped["en"]
    assert "训练实际使用的学习率为 5e-4" in clamped["zh"]
    paper = rm.training_paragraphs(_config())  # the reference: 7e-3 x 2/16 = 8.75e-4, within the limits
    assert "used was 8.75e-4, decaying to 8.75e-6" in paper["en"] and "within the SGD limits" in paper["en"]
    assert "Focal (alpha 0.5, gamma 2) + Dice" in paper["en"] and "background 1, corrosion 2, broken\\_wire 3" in paper["en"]
    assert "3-epoch quadratic warm-up" in paper["en"] and "last 15 of 100 epochs" in paper["en"]
    assert "Inputs are 512×512 pixels at batch size 2; the seed is 11." in paper["en"]
    assert "2162 steps per epoch" in paper["en"] and "Hardware: cpu" in paper["en"]
    given = rm.training_paragraphs(_config(lr_scaling=False))
    assert "used was 0.007, decaying to 7e-5 (Init_lr and Min_lr as configured" in given["en"]


def test_segkit_describe_draws_the_run_model_and_prints_its_paragraph(tmp_path, capsys):
    from segkit.cli import main
    from segkit.runs import RunDir

    model = segkit.build_model("deeplabv3plus-mobilenetv2", num_classes=3,
                               stitches=[{"at": "backbone.features.7", "module": "cbam"}])
    conf = _config(input_shape=[SIZE, SIZE])
    conf["model"] = {**model.segkit_spec, "num_classes": 3}
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_config(conf)
    assert main(["describe", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert f"architecture: {run.architecture_path}" in out
    assert "The learning rate training used was 8.75e-4" in out
    assert run.architecture_path.stat().st_size > 2000
    saved = json.loads(run.architecture_path.with_suffix(".json").read_text())
    assert {"name": "CBAM", "path": "backbone.features.7.cbam", "stitched": True} in saved["marks"]
    assert main(["describe", str(run.path), "--out", str(tmp_path / "a.svg")]) == 0
    assert re.search(r"<svg", (tmp_path / "a.svg").read_text())
