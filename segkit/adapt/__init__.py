"""Domain adaptation: the Trans4PASS pinhole -> panoramic workflow (`adapt`), above the trainer.

- :mod:`~segkit.adapt.config`: `AdaptConfig`, the official Trans4PASS settings;
- :mod:`~segkit.adapt.stages`: `adapt`, the four stages (source-only training, pseudo-labels,
  adaptation, evaluation) in one run folder, and `read_adaptation`;
- :mod:`~segkit.adapt.pseudo_labels`: per-class confidence thresholds on the source model's predictions;
- :mod:`~segkit.adapt.features`: `FeatureTap`, the decoder features MPA aligns, from any model;
- :mod:`~segkit.adapt.mpa`: the MPA feature loss and the prototype memory;
- :mod:`~segkit.adapt.train`: the adaptation training stage.

The data side (unlabelled domains, panoramic warps) stays in :mod:`segkit.data` (``domains``,
``panorama``): they are dataset transforms any training can use.

    >>> result = adapt("trans4pass-t", TrainConfig.profile("quick"), AdaptConfig(epochs=2),
    ...                source_root="data/pinhole", target_root="data/panorama", run_dir="runs/adapt")
"""
from segkit.adapt.config import AdaptConfig
from segkit.adapt.stages import STAGES, AdaptResult, adapt, read_adaptation

__all__ = ["adapt", "AdaptConfig", "AdaptResult", "read_adaptation", "STAGES"]
