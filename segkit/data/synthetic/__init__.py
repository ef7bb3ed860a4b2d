"""Synthetic steel-wire-rope damage dataset (the embedded default of every notebook).

`make_synthetic_wirerope` writes a VOC-layout dataset that imitates the paper's data
(see ``docs/models.md``): photographs of a steel wire rope with three classes,

* ``0 background``: everything that is not damage: the rope's helical strands and wires
  (shaded as a cylinder, with specular crests, grooves, grease and dirt) and the scene
  behind it;
* ``1 corrosion``: irregular rust-coloured patches of varied size on the rope surface;
* ``2 broken_wire``: thin (1-3 px at 256 px) bright or dark wire ends that break out of
  the strand pattern, alone or in small brooms, sometimes sticking out past the rope edge.

Like the real data the classes are very imbalanced (background ~99 % of the pixels) and
the thin class is hard. Hard negatives make it non-trivial: unlabelled dark grease and
brownish dirt patches (look like corrosion), bright glints on strand crests and thin
bright cables in the background (look like broken wires), plus blur, sensor noise and
JPEG compression.

Measured class shares with the default knobs (`segkit.data.dataset_stats` over the
trainval split): 200 images at 256x256, seeds 0/1/2: background 99.02/98.82/98.83 %,
corrosion 0.69/0.87/0.89 %, broken_wire 0.29/0.31/0.28 %; images containing corrosion
38/38.5/38 %, broken wire 64/64.5/63 %. 120 images at 128x128, seeds 0/1/2: corrosion
0.72/0.95/0.92 %, broken wire 0.41/0.46/0.38 % (wires are at least 1.6 px wide, so
they take a larger share at small sizes). Documented ranges, checked by
``tests/data/test_data_synthetic.py`` (for >= 100 images at 128-512 px):

=============  ================  ===================
class          pixel share       images containing
=============  ================  ===================
background     98.2 - 99.5 %     100 %
corrosion      0.4 - 1.3 %       28 - 48 %
broken_wire    0.15 - 0.6 %      55 - 75 %
=============  ================  ===================

Difficulty (measured): a 5-layer, 32-channel dilated CNN trained with weighted CE
(1, 2, 3) on 180 images at 128 px reaches corrosion IoU 25-65 % within 1-5 epochs
and broken-wire IoU 0-11 %, i.e. far from 100 %.

At 64 px the 1.6-px minimum wire width makes broken_wire thicker (0.8 % over 120 images).
Speed: ~30 ms per 256x256 image on one idle core (200 images in 6-25 s depending on load).

Every image ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so image ``i``
does not depend on ``n_images`` and the same seed gives byte-identical files.
"""
from .dataset import ensure_dataset, make_synthetic_wirerope, synthetic_changes
from .render import WIREROPE_CLASSES, WIREROPE_PALETTE, render_wirerope

__all__ = ["make_synthetic_wirerope", "ensure_dataset", "synthetic_changes", "render_wirerope", "WIREROPE_CLASSES", "WIREROPE_PALETTE"]
