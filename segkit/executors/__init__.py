"""Kept for old imports for one release: ``segkit.executors`` is now :mod:`segkit.experiments.executors`
(a package of its own here, so that its old submodule paths load the shims beside this file)."""
from segkit.experiments.executors import *  # noqa: F401,F403
from segkit.experiments.executors import __all__  # noqa: F401
