"""Kept for old imports for one release: ``segkit.executors.base`` is now :mod:`segkit.experiments.executors.base`."""
import sys

from segkit.experiments.executors import base

sys.modules[__name__] = base
