"""Kept for old imports for one release: ``segkit.report.notebook`` is now :mod:`segkit.report.pipeline.notebook`."""
import sys

from segkit.report.pipeline import notebook

sys.modules[__name__] = notebook
