"""Kept for old imports for one release: ``segkit.engine.build`` is now :mod:`segkit.training.build`."""
import sys

from segkit.training import build

sys.modules[__name__] = build
