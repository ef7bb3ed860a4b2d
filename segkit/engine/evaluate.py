"""Kept for old imports for one release: ``segkit.engine.evaluate`` is now :mod:`segkit.inference.evaluate`."""
import sys

from segkit.inference import evaluate

sys.modules[__name__] = evaluate
