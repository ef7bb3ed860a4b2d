"""Kept for old imports for one release: ``segkit.losses_rare`` is now :mod:`segkit.losses.rare`."""
import sys

from segkit.losses import rare

sys.modules[__name__] = rare
