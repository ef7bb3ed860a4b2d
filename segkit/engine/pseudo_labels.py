"""Kept for old imports for one release: ``segkit.engine.pseudo_labels`` is now :mod:`segkit.adapt.pseudo_labels`."""
import sys

from segkit.adapt import pseudo_labels

sys.modules[__name__] = pseudo_labels
