"""Kept for old imports for one release: ``segkit.report.runner`` is now :mod:`segkit.report.pipeline.runner`."""
import sys

from segkit.report.pipeline import runner

sys.modules[__name__] = runner
