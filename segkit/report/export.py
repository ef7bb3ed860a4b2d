"""Kept for old imports for one release: ``segkit.report.export`` is now :mod:`segkit.report.pipeline.export`."""
import sys

from segkit.report.pipeline import export

sys.modules[__name__] = export
