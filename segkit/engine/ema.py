"""Kept for old imports for one release: ``segkit.engine.ema`` is now :mod:`segkit.training.ema`."""
import sys

from segkit.training import ema

sys.modules[__name__] = ema
