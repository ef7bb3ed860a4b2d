"""Kept for old imports for one release: ``segkit.losses_mpa`` is now :mod:`segkit.adapt.mpa`."""
import sys

from segkit.adapt import mpa

sys.modules[__name__] = mpa
