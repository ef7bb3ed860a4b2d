"""Kept for old imports for one release: ``segkit.rundir`` is now :mod:`segkit.runs.rundir`."""
import sys

from segkit.runs import rundir

sys.modules[__name__] = rundir
