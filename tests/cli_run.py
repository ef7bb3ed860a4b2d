"""``segkit ARGS`` run in the test's own process (not a test file: imported by them).

A subprocess pays the torch import again (about 4 s of CPU with ``torch._dynamo``); tests that
check a command's behaviour, not how the process starts or ends, call the CLI here. Tests about
the process itself (signals, locale, time limits, offline start) run ``python -m segkit``.
"""
from __future__ import annotations

import contextlib
import io
import subprocess


def cli(*args) -> subprocess.CompletedProcess:
    """``segkit ARGS`` in-process: exit code, stdout and stderr (an exception escaping is a test failure)."""
    from segkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
