"""``segkit models`` and ``segkit modules``: what can be built and what can be stitched in.

    segkit models                      # every registered model: family, year, paper, size
    segkit models 'deeplabv3plus*'     # a glob on the name
    segkit models --family unet
    segkit modules                     # every attention / fusion module for stitching
"""
from __future__ import annotations

import argparse

__all__ = ["add_commands", "models_table", "print_table"]


def models_table(pattern: str | None = None, family: str | None = None):
    """The registry as a DataFrame: model, family, year, paper, input multiple, paper's parameters (M).

    Read from the registry only (no model is built), so it answers at once.
    """
    import pandas as pd

    from segkit.models import list_models, model_info

    rows = []
    for name in list_models(pattern, family):
        e = model_info(name)
        rows.append({"model": name, "family": e.family, "year": e.year, "paper": e.paper or "-",
                     "input multiple": e.input_multiple,
                     "ref params (M)": round(e.reference_params / 1e6, 2) if e.reference_params else None})
    df = pd.DataFrame(rows, columns=["model", "family", "year", "paper", "input multiple", "ref params (M)"])
    df["year"] = df["year"].astype("Int64")  # missing years stay empty, the others integers
    return df


def print_table(df) -> None:
    """Print a DataFrame as a plain-text table: every row and column, missing values as "-"."""
    import pandas as pd

    df = df.copy()
    for col in df.columns:
        if isinstance(df[col].dtype, pd.api.extensions.ExtensionDtype):  # Int64 prints <NA>, not na_rep
            df[col] = ["-" if pd.isna(v) else str(v) for v in df[col].astype(object)]
    # words read better left-aligned (names, papers), numbers right-aligned
    width = {c: max([len(str(c))] + [len(str(v)) for v in df[c]]) for c in df.columns if df[c].dtype == object}
    df = df.rename(columns={c: f"{c:<{w}}" for c, w in width.items()})
    left = {f"{c:<{w}}": (lambda w: lambda v: f"{v!s:<{w}}")(w) for c, w in width.items()}
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        print(df.to_string(index=False, na_rep="-", formatters=left))


def _cmd_models(args: argparse.Namespace) -> int:
    from segkit.models import list_models, model_info

    df = models_table(args.pattern, args.family)
    if df.empty:
        families = sorted({model_info(n).family for n in list_models()})
        raise ValueError(f"no registered model matches pattern={args.pattern!r} family={args.family!r}; "
                         f"families: {', '.join(families)}")
    print_table(df)
    print(f"\n{len(df)} models. Build one with segkit.build_model(NAME, num_classes=K) or "
          "`segkit train --model NAME`; `segkit zoo` measures parameters, FLOPs and latency.")
    return 0


def _cmd_modules(args: argparse.Namespace) -> int:
    from segkit.modules import list_modules

    df = list_modules(args.channels)
    df["year"] = df["year"].astype("Int64")
    cols = ["name", "year", "paper", f"params@C={args.channels}", "where"] + (["addresses", "contract"] if args.long else [])
    print_table(df[cols])
    print(f"\n{len(df)} modules. Stitch one in with `segkit train --insert PATH=NAME` or "
          "segkit.stitch.insert(model, PATH, NAME); `segkit stitch inspect MODEL` lists the paths.")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``segkit models`` and ``segkit modules``."""
    p = sub.add_parser("models", help="list the registered models (names for --model, build_model, zoo)",
                       description="List every registered model with its family, year, paper, the input "
                                   "multiple it needs and the parameter count its paper reports.",
                       epilog="examples:\n  segkit models\n  segkit models 'deeplabv3plus*'\n"
                              "  segkit models --family unet")
    p.add_argument("pattern", nargs="?", default=None, help="glob on the model name, e.g. 'unet*'")
    p.add_argument("--family", default=None, help="keep one family, e.g. deeplab, unet, segformer")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("modules", help="list the attention/fusion modules you can stitch into a model",
                       description="List every registered attention and fusion module: year, paper, parameters "
                                   "at a channel count, and where the paper puts it.",
                       epilog="examples:\n  segkit modules\n  segkit modules --channels 256 --long")
    p.add_argument("--channels", type=int, default=64, help="channel count for the parameter column")
    p.add_argument("--long", action="store_true", help="also show what each module addresses and its shape contract")
    p.set_defaults(func=_cmd_modules)
