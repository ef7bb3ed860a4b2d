"""Kept for old imports for one release: ``segkit.engine.distributed`` is now :mod:`segkit.runtime.distributed`."""
import sys

from segkit.runtime import distributed

sys.modules[__name__] = distributed
