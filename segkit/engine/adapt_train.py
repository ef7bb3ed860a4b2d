"""Kept for old imports for one release: ``segkit.engine.adapt_train`` is now :mod:`segkit.adapt.train`."""
import sys

from segkit.adapt import train

sys.modules[__name__] = train
