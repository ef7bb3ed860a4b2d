"""Kept for old imports for one release: ``segkit.executors.slurm`` is now :mod:`segkit.experiments.executors.slurm`."""
import sys

from segkit.experiments.executors import slurm

sys.modules[__name__] = slurm
