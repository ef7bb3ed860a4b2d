"""segkit: semantic-segmentation research kit (DeepLabV3+ variants, attention stitching,
training, benchmarks, Grad-CAM and paper reports)."""
__version__ = "0.1.0"
