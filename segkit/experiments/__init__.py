"""segkit.experiments: the write side of a report. It trains (or reuses) the runs the report reads.

- :mod:`~segkit.experiments.runs`: `ensure_run`, train-or-reuse one run directory by its fingerprint;
- :mod:`~segkit.experiments.grid`: `run_experiment`, an experiment grid (entries x seeds) and its
  benchmarks (`ensure_bench`), and `train_config`, the notebooks' recipe;
- :mod:`~segkit.experiments.adaptation`: `run_adaptation`, one adaptation folder per seed;
- :mod:`~segkit.experiments.executors`: where the runs train (this machine, Slurm).

:mod:`segkit.report` reads what these write (tables, figures, text, statistics) and never trains.
"""
from segkit.experiments.adaptation import run_adaptation
from segkit.experiments.grid import ensure_bench, run_experiment, train_config
from segkit.experiments.runs import ensure_run

__all__ = ["ensure_run", "run_experiment", "ensure_bench", "train_config", "run_adaptation"]
