"""Kept for old imports for one release: ``segkit.engine.fingerprint`` is now :mod:`segkit.runs.fingerprint`."""
import sys

from segkit.runs import fingerprint

sys.modules[__name__] = fingerprint
