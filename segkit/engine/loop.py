"""Kept for old imports for one release: ``segkit.engine.loop`` is now :mod:`segkit.training.loop`."""
import sys

from segkit.training import loop

sys.modules[__name__] = loop
