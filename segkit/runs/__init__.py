"""Run directories: their layout and files (`RunDir`), their lock, checkpoint files and fingerprints.

- :mod:`~segkit.runs.rundir`: `RunDir`, the one owner of a run folder's layout and files;
- :mod:`~segkit.runs.lock`: `RunLock`, the OS lock held while a process trains into a folder;
- :mod:`~segkit.runs.checkpoint`: the checkpoint format, atomic saving, ``weights_only`` loading;
- :mod:`~segkit.runs.fingerprint`: what decides a run's result, so an identical run is reused.

Training (:mod:`segkit.engine`) writes them; the report and the experiments read them.
"""
from segkit.runs.lock import RunLock, RunLockedError
from segkit.runs.rundir import HISTORY_COLUMNS, RunDir

__all__ = ["RunDir", "RunLock", "RunLockedError", "HISTORY_COLUMNS"]
