"""The ``segkit`` command (also ``python -m segkit``).

Each area of the library contributes its subcommands through an ``add_commands(sub)``
function in its module of ``segkit.commands``; this file only assembles them. Those modules
import nothing heavy at module level, so ``segkit --help`` and ``--version`` start fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys

import segkit

__all__ = ["main", "build_parser"]

# Modules providing add_commands(subparsers); torch and friends are imported inside the commands.
_COMMAND_MODULES = [f"segkit.commands.{m}" for m in ("data", "engine", "adapt", "bench", "report", "models", "stitch", "zoo",
                                                      "describe")]

_DESCRIPTION = """Semantic-segmentation research kit: DeepLabV3+ and its attention variants, training, evaluation, Grad-CAM and paper-ready reports.

Your own data, end to end (each command has --help with examples):
  segkit data import PHOTOS DATA --ratio 8:1:1   # a folder per class with 0/255 masks (or --classes, Labelme)
  segkit data check DATA
  segkit train --data-root DATA --run-dir runs/mine/mbv2 --epochs 20
  segkit evaluate runs/mine/mbv2 --split test
  segkit predict runs/mine/mbv2 --split test --out predictions
  segkit export-onnx runs/mine/mbv2 --out mbv2.onnx
  segkit cam runs/mine/mbv2 DATA/JPEGImages/IMAGE.jpg --out cam.png"""


def _cmd_info(args: argparse.Namespace) -> int:
    import torch
    import torchvision

    rows = [
        ("segkit", segkit.__version__),
        ("python", platform.python_version()),
        ("platform", platform.platform()),
        ("torch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("cuda available", str(torch.cuda.is_available())),
    ]
    if torch.cuda.is_available():
        rows.append(("cuda device", torch.cuda.get_device_name(0)))
        rows.append(("cuda version", str(torch.version.cuda)))
    mps = getattr(torch.backends, "mps", None)
    rows.append(("mps available", str(bool(mps and mps.is_available()))))
    rows.append(("cpu threads (torch)", str(torch.get_num_threads())))
    rows.append(("cpu count (os)", str(os.cpu_count())))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from segkit.commands._help import HelpFormatter, use_formatter

    parser = argparse.ArgumentParser(prog="segkit", description=_DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"segkit {segkit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="versions, CUDA availability, device name, CPU threads",
                       description="Print the versions of segkit, Python, torch and torchvision, whether CUDA or "
                                   "MPS is available (and the GPU's name), and the CPU threads torch uses.")
    p.set_defaults(func=_cmd_info)
    for mod in _COMMAND_MODULES:
        importlib.import_module(mod).add_commands(sub)
    use_formatter(parser)
    return parser


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Failures a user causes and can fix (bad values, files, disk, unsafe checkpoints, YAML):
    one line each, no traceback."""
    import pickle

    import yaml

    return (ValueError, KeyError, RuntimeError, OSError, pickle.UnpicklingError, yaml.YAMLError)


def _one_line(exc: BaseException) -> str:
    """The message of `exc` without Python's decoration (KeyError quotes, OSError's [Errno n])."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else str(exc.filename)
        return f"{target}: {exc.strerror}"
    text = str(exc).strip()
    if type(exc).__module__.startswith("yaml"):  # PyYAML's messages span lines with a caret
        text = " ".join(text.split())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the ``segkit`` command; return its exit code.

    Expected failures (see `_expected_errors`) print ``segkit <command>: error: <message>`` on
    stderr and return 1; set ``SEGKIT_DEBUG=1`` to get the traceback instead.
    """
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # an ASCII locale must not turn a class name into a crash
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        if os.environ.get("SEGKIT_DEBUG") or not isinstance(exc, _expected_errors()):
            raise
        print(f"segkit {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
