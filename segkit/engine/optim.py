"""Kept for old imports for one release: ``segkit.engine.optim`` is now :mod:`segkit.training.optim`."""
import sys

from segkit.training import optim

sys.modules[__name__] = optim
