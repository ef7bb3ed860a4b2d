"""The training engine: the config and its recipes (``config``, ``recipe``), building a run's
parts (``build``), the epoch loop (``loop``) and its hooks, optimiser and schedules, the time
budget, EMA, early stopping, rare-class setup, checkpoints with RNG state, runs read back
(``from_runs``) and ``trainer.train``. ``segkit.engine`` re-exports its public names."""
