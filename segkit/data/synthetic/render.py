"""`render_wirerope`: one synthetic wire-rope photograph and its label map, step by step."""
from __future__ import annotations

import cv2
import numpy as np

from ._noise import _smoothstep
from .damage import add_broken_wires, add_cables, add_corrosion, add_dirt, add_glints
from .rope import draw_rope
from .scene import Grid, draw_background

WIREROPE_CLASSES = ("background", "corrosion", "broken_wire")
# RGB colour per class for the mask PNG palette (void 255 is white)
WIREROPE_PALETTE = ((0, 0, 0), (220, 90, 20), (40, 200, 255))


def render_wirerope(
    rng: np.random.Generator,
    size: int | tuple[int, int] = 256,
    *,
    corrosion: bool = False,
    broken_wire: bool = False,
    noise: float = 0.03,
    blur: float = 0.8,
    distractors: float = 1.0,
    damage_scale: float = 1.0,
    wire_width: float = 1.0,
    dark_wires: float = 0.3,
    wire_label_margin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one wire-rope photograph and its label map.

    Args:
        rng: source of randomness (everything is drawn from it, in a fixed order).
        size: output size, an int (square) or ``(height, width)``.
        corrosion: draw 1-3 corrosion patches.
        broken_wire: draw 1-3 broken-wire events (each 1-5 wire ends).
        noise: std of the Gaussian sensor noise, in [0, 1] intensity units (scaled by a
            random factor 0.5-1.5 per image).
        blur: maximum Gaussian blur sigma in pixels at 256 px (scaled with the size; each
            image draws U(0, blur)).
        distractors: expected number of each kind of hard negative (grease/dirt patches,
            background cables); 0 turns them off.
        damage_scale: multiplies the size of corrosion patches and the length of wire ends.
        wire_width: multiplies the width of wire ends (at least 1.6 px before it): wider
            ends for small images, where a 1.6-px wire is under a pixel of a stride-4 decoder.
        dark_wires: share of broken-wire events drawn dark and low-contrast (the rest bright).
        wire_label_margin: pixels around each wire end also labelled broken wire (at most 5),
            as an annotator's polygon around a broom rather than a trace of each wire.

    Returns:
        ``(rgb, mask)``: uint8 ``(H, W, 3)`` image and uint8 ``(H, W)`` class indices.
    """
    g = Grid.of(size)
    bg = draw_background(rng, g)
    rope_img, rope = draw_rope(rng, g)
    mask = np.zeros((g.h, g.w), np.uint8)
    rope_img = add_dirt(rng, g, rope, rope_img, distractors)
    if corrosion:
        rope_img = add_corrosion(rng, g, rope, rope_img, mask, damage_scale)
    img = bg * (1 - rope.alpha[..., None]) + rope_img * rope.alpha[..., None]
    # the rope's shadow on the background (an unlabelled dark band along one edge)
    shadow = _smoothstep(1.35, 1.0, np.abs(rope.vn - np.sign(rope.light) * 0.12)) * (1 - rope.alpha)
    img *= 1 - 0.35 * shadow[..., None]
    img = add_cables(rng, g, rope, img, distractors)
    if broken_wire:
        add_broken_wires(rng, g, rope, img, mask, damage_scale, wire_width, dark_wires, wire_label_margin)
    img = add_glints(rng, g, rope, img, distractors)
    return _camera(rng, g, img, noise, blur), mask


def _camera(rng: np.random.Generator, g: Grid, img: np.ndarray, noise: float, blur: float) -> np.ndarray:
    """Vignette, blur and sensor noise; returns uint8 RGB."""
    r2 = ((g.xx - g.w / 2) ** 2 + (g.yy - g.h / 2) ** 2) / (0.5 * max(g.h, g.w)) ** 2
    img *= (1 - rng.uniform(0.0, 0.35) * r2)[..., None]
    sigma = rng.uniform(0.0, blur) * g.s
    if sigma > 0.3:
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    img = img + rng.normal(0.0, noise * rng.uniform(0.5, 1.5), img.shape)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
