"""Kept for old imports for one release: ``segkit.engine.adapt_stages`` is now :mod:`segkit.adapt.stages`."""
import sys

from segkit.adapt import stages

sys.modules[__name__] = stages
