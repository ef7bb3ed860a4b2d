"""Kept for old imports for one release: ``segkit.engine.mpa_features`` is now :mod:`segkit.adapt.features`."""
import sys

from segkit.adapt import features

sys.modules[__name__] = features
