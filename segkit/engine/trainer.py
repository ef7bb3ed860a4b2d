"""Kept for old imports for one release: ``segkit.engine.trainer`` is now :mod:`segkit.training.trainer`."""
import sys

from segkit.training import trainer

sys.modules[__name__] = trainer
