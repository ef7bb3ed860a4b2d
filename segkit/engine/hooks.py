"""Kept for old imports for one release: ``segkit.engine.hooks`` is now :mod:`segkit.training.hooks`."""
import sys

from segkit.training import hooks

sys.modules[__name__] = hooks
