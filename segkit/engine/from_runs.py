"""Kept for old imports for one release: ``segkit.engine.from_runs`` is now :mod:`segkit.training.from_runs`."""
import sys

from segkit.training import from_runs

sys.modules[__name__] = from_runs
