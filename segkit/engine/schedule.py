"""Kept for old imports for one release: ``segkit.engine.schedule`` is now :mod:`segkit.training.schedule`."""
import sys

from segkit.training import schedule

sys.modules[__name__] = schedule
