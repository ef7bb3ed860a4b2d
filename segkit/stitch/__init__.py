"""Module stitching: find where to insert attention, insert it safely, compose modules.

The stitching workflow of the module zoo (see ``docs/zoo.md``), made first-class, one
concept per file: ``_probe`` (shapes), ``_compose`` (building and composing modules) and
``_insert`` (the checked edit):

1. :func:`inspect` (or :func:`probe_shapes`) runs one forward pass with hooks and lists every
   module path with its real input/output shapes and parameter counts: the place to pick a
   stitching point.
2. :func:`insert` probes the real tensor at that path, infers the channel count, builds the
   module, validates it (channel mismatch, spatial-size-dependent modules at the wrong size,
   zero-width layers, shape changes) with a dry forward of the whole model, and edits the
   model in place (rolled back on failure). It returns the model and an :class:`InsertRecord`.
3. :class:`Serial` and :class:`Parallel` compose modules (nestable), e.g. SE then ECA, or
   SE and ECA in parallel merged by add/mul/max/concat (+ 1x1 projection back to C).

Works on segkit models, timm models and plain ``nn.Sequential`` chains::

    from segkit import stitch
    from segkit.modules.se import SE
    stitch.inspect(model, (1, 3, 64, 64))                        # pick a path
    model, rec = stitch.insert(model, "backbone.features.3", SE, reduction=8)
    print(rec)   # inserted SE after 'backbone.features.3' (C=24 at 16x16): +144 params ...

"after"/"before" wrap the host module at PATH in a :class:`Stitched` container, so the host's
parameters move from ``PATH.*`` to ``PATH.host.*`` (load pretrained weights before stitching).

A model built by ``segkit.build_model`` records each insertion in ``model.segkit_spec``
(path, where, module name, arguments), so a trained stitched model can be rebuilt from
its run's ``config.yaml``; stitch by registered name (or a class registered with
``segkit.modules.register_module``) for that.
"""
from __future__ import annotations

from segkit.stitch._compose import Parallel, Serial, Stitched, resolve_module
from segkit.stitch._insert import InsertRecord, insert
from segkit.stitch._probe import ModuleProbe, inspect, probe_modules, probe_shapes

__all__ = [
    "probe_shapes",
    "probe_modules",
    "ModuleProbe",
    "inspect",
    "insert",
    "Serial",
    "Parallel",
    "Stitched",
    "InsertRecord",
    "resolve_module",
]
