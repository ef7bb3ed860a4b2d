"""Models: backbones, heads, architectures, and the registry.

Importing this package registers every model family.
"""
from segkit.models._base import InputShapeError, SegmentationModel
from segkit.models._registry import build_model, list_models, model_info, register_model
from segkit.models._spec import build_from_spec
from segkit.models._pretrained import pretrained_available
from segkit.models._weights import load_weights, read_state_dict

# Families register themselves on import (one line per family file).
from segkit.models import deeplab  # noqa: F401  (the paper's family)
from segkit.models import unet, linknet, pspnet, hrnet, hardnet  # noqa: F401,E401  (the survey zoo)
from segkit.models import segformer, segnext, trans4pass, multiscale  # noqa: F401,E401  (the survey zoo)

__all__ = ["build_model", "build_from_spec", "list_models", "model_info", "register_model", "load_weights", "pretrained_available",
           "read_state_dict", "SegmentationModel", "InputShapeError"]
