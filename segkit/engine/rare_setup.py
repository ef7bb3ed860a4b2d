"""Kept for old imports for one release: ``segkit.engine.rare_setup`` is now :mod:`segkit.training.rare_setup`."""
import sys

from segkit.training import rare_setup

sys.modules[__name__] = rare_setup
