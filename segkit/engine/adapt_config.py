"""Kept for old imports for one release: ``segkit.engine.adapt_config`` is now :mod:`segkit.adapt.config`."""
import sys

from segkit.adapt import config

sys.modules[__name__] = config
