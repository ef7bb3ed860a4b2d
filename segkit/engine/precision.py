"""Kept for old imports for one release: ``segkit.engine.precision`` is now :mod:`segkit.runtime.precision`."""
import sys

from segkit.runtime import precision

sys.modules[__name__] = precision
