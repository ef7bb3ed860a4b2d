"""Kept for old imports for one release: ``segkit.engine.predict`` is now :mod:`segkit.inference.predict`."""
import sys

from segkit.inference import predict

sys.modules[__name__] = predict
