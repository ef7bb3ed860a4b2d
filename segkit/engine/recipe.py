"""Kept for old imports for one release: ``segkit.engine.recipe`` is now :mod:`segkit.training.recipe`."""
import sys

from segkit.training import recipe

sys.modules[__name__] = recipe
