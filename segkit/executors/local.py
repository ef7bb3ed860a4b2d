"""Kept for old imports for one release: ``segkit.executors.local`` is now :mod:`segkit.experiments.executors.local`."""
import sys

from segkit.experiments.executors import local

sys.modules[__name__] = local
