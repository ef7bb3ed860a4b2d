"""Kept for old imports for one release: ``segkit.engine.checkpoint`` is now :mod:`segkit.training.checkpoint`."""
import sys

from segkit.training import checkpoint

sys.modules[__name__] = checkpoint
