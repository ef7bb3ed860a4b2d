"""Kept for old imports for one release: ``segkit.losses_distill`` is now :mod:`segkit.losses.distill`."""
import sys

from segkit.losses import distill

sys.modules[__name__] = distill
