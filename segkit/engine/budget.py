"""Kept for old imports for one release: ``segkit.engine.budget`` is now :mod:`segkit.training.budget`."""
import sys

from segkit.training import budget

sys.modules[__name__] = budget
