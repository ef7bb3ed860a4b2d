"""``segkit stitch``: inspect a model's module paths and shapes (where to stitch attention).

    segkit stitch inspect deeplabv3plus-mobilenetv2 --input 1,3,512,512 --depth 3
    segkit stitch inspect timm:resnet18 --input 1,3,224,224 --csv layers.csv
"""
from __future__ import annotations

import argparse

from segkit._utils import parse_key_values

__all__ = ["add_commands"]


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input {text!r}: expected comma-separated ints such as 1,3,512,512") from None
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"--input {text!r}: expected 4 positive ints B,C,H,W such as 1,3,512,512")
    return shape


def _build(name: str, kwargs: dict):
    if name.startswith("timm:"):
        import timm

        kwargs.setdefault("pretrained", False)  # never download
        return timm.create_model(name[len("timm:"):], **kwargs)
    from segkit.models import build_model

    return build_model(name, **kwargs)


def _cmd_inspect(args: argparse.Namespace) -> int:
    import pandas as pd

    from segkit import stitch

    model = _build(args.model, parse_key_values(args.arg, "--arg", "num_classes=3"))
    df = stitch.inspect(model, args.input, max_depth=args.depth, called_only=args.called_only)
    if args.csv:
        df.to_csv(args.csv, index=False)
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", 60):
        print(df.to_string(index=False))
    total = int(df.loc[df["depth"] == 0, "params"].iloc[0]) if (df["depth"] == 0).any() else None
    if total is not None:
        print(f"\n{args.model}: {total:,} parameters; input {tuple(args.input)}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``segkit stitch inspect``."""
    p = sub.add_parser("stitch", help="inspect module paths and shapes (where to stitch attention)",
                       description="Find where to stitch a module into a model: `segkit stitch inspect MODEL` "
                                   "lists every module path with its type, real input/output shapes and parameters.")
    ssub = p.add_subparsers(dest="stitch_command", metavar="ACTION")
    q = ssub.add_parser("inspect", help="print every module path with its type, real shapes and params",
                        description="Run one forward pass with hooks and print every module path with its type, "
                                    "input/output shapes and parameters. Stitch a module at a path with "
                                    "`segkit train --insert PATH=MODULE` (modules: `segkit modules`).",
                        epilog="examples:\n  segkit stitch inspect deeplabv3plus-mobilenetv2 --input 1,3,512,512 "
                               "--depth 3\n  segkit stitch inspect timm:resnet18 --input 1,3,224,224 --csv layers.csv")
    q.add_argument("model", help="a registered segkit model (see `segkit models`) or timm:NAME")
    q.add_argument("--input", type=_parse_shape, default=(1, 3, 512, 512), help="B,C,H,W (default 1,3,512,512)")
    q.add_argument("--depth", type=int, default=None, help="show paths up to this depth")
    q.add_argument("--called-only", action="store_true", help="hide modules the forward pass never calls")
    q.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE", help="model keyword argument")
    q.add_argument("--csv", default=None, help="also write the table to this CSV file")
    q.set_defaults(func=_cmd_inspect)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
