"""Kept for old imports for one release: ``segkit.engine.threads`` is now :mod:`segkit.runtime.threads`."""
import sys

from segkit.runtime import threads

sys.modules[__name__] = threads
