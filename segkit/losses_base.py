"""Kept for old imports for one release: ``segkit.losses_base`` is now :mod:`segkit.losses.base`."""
import sys

from segkit.losses import base

sys.modules[__name__] = base
