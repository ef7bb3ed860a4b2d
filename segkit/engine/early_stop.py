"""Kept for old imports for one release: ``segkit.engine.early_stop`` is now :mod:`segkit.training.early_stop`."""
import sys

from segkit.training import early_stop

sys.modules[__name__] = early_stop
