"""Kept for old imports for one release: ``segkit.engine.config`` is now :mod:`segkit.training.config`."""
import sys

from segkit.training import config

sys.modules[__name__] = config
