"""The `segkit` command: version, info, help, and error handling."""
from __future__ import annotations

import subprocess
import sys

import segkit
from segkit.cli import build_parser, main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"segkit {segkit.__version__}"


def test_info_lists_versions_and_threads(capsys):
    import torch

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"torch                {torch.__version__}" in out or torch.__version__ in out
    assert "cuda available" in out and "cpu threads" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "info" in sub.choices
    for name, p in sub.choices.items():
        assert p.format_help(), name


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "segkit", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == f"segkit {segkit.__version__}"


def test_top_level_api_resolves_every_export():
    for name in segkit.__all__:
        assert getattr(segkit, name) is not None, name


def test_building_the_parser_imports_no_torch():
    """`segkit --help` must answer at once: the command modules import the library lazily."""
    code = ("import sys; from segkit.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'numpy', 'pandas', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
