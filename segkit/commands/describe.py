"""``segkit describe RUN_DIR``: the block diagram of a run's model and its training paragraph.

    segkit describe runs/mine/improved                 # writes runs/mine/improved/architecture.png
    segkit describe runs/mine/improved --lang zh --out fig/arch.pdf --input-size 512
"""
from __future__ import annotations

import argparse

__all__ = ["add_commands", "describe_run"]


def describe_run(run_dir: str, out: str | None = None, lang: str = "en", input_size: int | None = None) -> tuple[str, str]:
    """Draw the run's model (rebuilt from ``config.yaml``, no weights needed) and write its training paragraph.

    Args:
        run_dir: a run folder written by ``segkit train``.
        out: the diagram's file (.png, .pdf or .svg); default ``RUN_DIR/architecture.png``.
        lang: "en" or "zh" (the diagram falls back to English labels without a CJK font).
        input_size: side of the probe input; default the run's input size.

    Returns:
        ``(diagram path, paragraph)``.
    """
    from pathlib import Path

    from segkit.models._spec import build_from_spec, spec_problem
    from segkit.report.methods import architecture_params, describe_architecture, plot_architecture
    from segkit.report.methods.training_section import run_record, training_paragraphs
    from segkit.report.style import save_figure, use_style
    from segkit.runs import RunDir

    rec = run_record(run_dir)
    conf = rec["config"]
    spec = conf.get("model") or {}
    problem = spec.get("not_rebuildable") or spec_problem(spec)
    if problem:
        raise ValueError(f"{RunDir(run_dir).config_path}: cannot rebuild the run's model ({spec.get('class')}): {problem}")
    model = build_from_spec(spec, load_pretrained=False)  # the diagram needs shapes, not weights
    size = input_size or int((conf.get("train") or {}).get("input_shape", [512])[0])
    arch = describe_architecture(model, size, name=spec.get("name"))
    use_style("en")
    fig = plot_architecture(arch, lang=lang)
    path = Path(out) if out else RunDir(run_dir).architecture_path
    fmt = path.suffix.lstrip(".") or "png"
    if fmt not in ("png", "pdf", "svg"):
        raise ValueError(f"--out {str(path)!r}: use a .png, .pdf or .svg file name")
    written = save_figure(fig, path.stem, path.parent, formats=(fmt,),
                          params={**architecture_params(arch), "run": str(run_dir), "lang": lang}, close=True)
    return str(written[0]), training_paragraphs(rec)[lang]


def _cmd_describe(args: argparse.Namespace) -> int:
    path, paragraph = describe_run(args.run_dir, args.out, args.lang, args.input_size)
    print(f"architecture: {path}")
    print()
    print(paragraph)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``segkit describe``."""
    p = sub.add_parser("describe", help="a run's architecture diagram (PNG) and its training paragraph",
                       description="Rebuild a run's model from its config.yaml (stitched modules included; no "
                                   "weights are loaded), draw its block diagram with the shapes of one forward pass, "
                                   "and print the diagram's path and the run's training paragraph (optimiser, the "
                                   "learning rate training used, schedule, loss, batch, input size, seed, hardware).",
                       epilog="examples:\n  segkit describe runs/mine/improved\n"
                              "  segkit describe runs/mine/improved --lang zh --out arch.pdf")
    p.add_argument("run_dir", help="a run folder written by `segkit train`")
    p.add_argument("--out", default=None, help="diagram file (.png, .pdf, .svg); default RUN_DIR/architecture.png")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the labels and the paragraph")
    p.add_argument("--input-size", type=int, default=None, help="side of the probe input (default: the run's)")
    p.set_defaults(func=_cmd_describe)
