"""Kept for old imports for one release: ``segkit.engine.tensorboard`` is now :mod:`segkit.training.tensorboard`."""
import sys

from segkit.training import tensorboard

sys.modules[__name__] = tensorboard
