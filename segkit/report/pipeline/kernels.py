"""One Jupyter kernel ahead: the next notebook's kernel starts and imports segkit while this one runs.

Every notebook of a report runs in a fresh kernel (no state leaks from one to the next), and
each fresh kernel cost about 5 s on a 2-core CPU before its first result: 0.7 s to start, 3 s
for the imports of its first cell (torch, pandas, segkit) and 1 s to shut down. Those seconds
are single-threaded, so they run on a core the current notebook mostly leaves idle: while
notebook i runs, :class:`KernelPool` starts the kernel of notebook i+1 and imports what every
notebook imports (the notebook still runs its own import cell, which then finds the modules
loaded), and shuts used kernels down in the background. The kernel is otherwise untouched: no
cell of the notebook runs before papermill runs it, so its outputs and numbering are the same.

A warm-up competes for the CPU with whatever runs beside it, which would bias a latency
measurement: while one runs, the file named by ``SEGKIT_WARMING`` (set in every kernel the
pool starts) exists, and :func:`segkit.bench.timing.wait_until_quiet` waits for it to go.
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["KernelPool", "WARM_UP"]

WARM_UP = "import segkit.report, segkit.experiments, torch._dynamo"  # torch._dynamo: the optimisers' first use


def kernel_name_of(notebook: str | Path) -> str:
    """The kernel a notebook asks for in its metadata (``python3`` when it names none)."""
    meta = json.loads(Path(notebook).read_text(encoding="utf-8")).get("metadata", {})
    return (meta.get("kernelspec") or {}).get("name") or "python3"


class KernelPool:
    """Warm kernels for a sequence of notebooks, one ahead of the one running.

    Use as a context manager: :meth:`take` gives the warmed kernel of a notebook (None when its
    warm-up failed: papermill then starts its own, and reports any error as usual),
    :meth:`prepare` starts the next one's, :meth:`release` shuts a used kernel down in the
    background (:meth:`kernel` does the three in turn); leaving the ``with`` block shuts down
    every kernel the pool started.
    """

    def __init__(self, kernel_name: str | None, extra_arguments: Sequence[str]) -> None:
        self.kernel_name = kernel_name
        self.extra_arguments = list(extra_arguments)
        self._threads = ThreadPoolExecutor(3, thread_name_prefix="segkit-kernel")  # a start, a stop, a stop awaiting a start
        self._next: tuple[Path, Future] | None = None
        self._stops: list[Future] = []
        fd, flag = tempfile.mkstemp(prefix="segkit-warming-")
        os.close(fd)
        os.unlink(flag)  # the name only: the file exists while a kernel warms up
        self.flag = Path(flag)

    def __enter__(self) -> "KernelPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._next is not None:
            self.release(self._next[1])
            self._next = None
        for f in self._stops:
            f.exception()  # wait; a kernel that would not stop is not the report's failure
        self._threads.shutdown()
        self.flag.unlink(missing_ok=True)

    def prepare(self, notebook: str | Path) -> None:
        """Start `notebook`'s kernel and its imports in the background."""
        name = self.kernel_name or kernel_name_of(notebook)
        self._next = (Path(notebook), self._threads.submit(self._start, name, Path(notebook).parent))

    def take(self, notebook: str | Path) -> Any:
        """The warmed kernel manager of `notebook` (prepared now when it was not), or None."""
        if self._next is None or self._next[0] != Path(notebook):
            self.prepare(notebook)
        _, future = self._next
        self._next = None
        return None if future.exception() is not None else future.result()

    @contextmanager
    def kernel(self, notebook: str | Path, then: str | Path | None = None) -> Iterator[Any]:
        """`notebook`'s warmed kernel (see :meth:`take`) while `then`'s warms up; released after."""
        km = self.take(notebook)
        if then is not None:
            self.prepare(then)
        try:
            yield km
        finally:
            self.release(km)

    def release(self, km: Any) -> None:
        """Shut down a kernel (a manager, a pending warm-up, or None) without waiting for it."""
        if km is not None:
            self._stops.append(self._threads.submit(self._stop, km))

    def _start(self, kernel_name: str, cwd: Path) -> Any:
        from jupyter_client.manager import AsyncKernelManager

        from segkit.bench.timing import WARMING_ENV  # here: importing the runner imports no torch

        async def start() -> Any:
            km = AsyncKernelManager(kernel_name=kernel_name)
            self.flag.touch()
            try:
                await km.start_kernel(cwd=str(cwd), extra_arguments=self.extra_arguments,
                                      env={**os.environ, WARMING_ENV: str(self.flag)})
                kc = km.client()
                kc.start_channels()
                try:
                    await kc.wait_for_ready(timeout=120)
                    await kc.execute_interactive(WARM_UP, silent=True, store_history=False, timeout=300)
                finally:
                    kc.stop_channels()
            except BaseException:
                await km.shutdown_kernel(now=True)
                raise
            finally:
                self.flag.unlink(missing_ok=True)
            return km

        return asyncio.run(start())

    def _stop(self, km: Any) -> None:
        if isinstance(km, Future):  # a warm-up nobody took
            if km.exception() is not None:
                return
            km = km.result()
        asyncio.run(km.shutdown_kernel(now=False))
