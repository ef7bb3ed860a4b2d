"""Kept for old imports for one release: ``segkit.engine.export`` is now :mod:`segkit.inference.export`."""
import sys

from segkit.inference import export

sys.modules[__name__] = export
