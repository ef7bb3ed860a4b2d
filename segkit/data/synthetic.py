"""Synthetic steel-wire-rope damage dataset (the embedded default of every notebook).

`make_synthetic_wirerope` writes a VOC-layout dataset that imitates the paper's data
(``spec/paper_results.md`` §1): photographs of a steel wire rope with three classes,

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
``tests/test_data_synthetic.py`` (for >= 100 images at 128-512 px):

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
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

__all__ = ["make_synthetic_wirerope", "render_wirerope", "WIREROPE_CLASSES", "WIREROPE_PALETTE"]

WIREROPE_CLASSES = ("background", "corrosion", "broken_wire")
# RGB colour per class for the mask PNG palette (void 255 is white)
WIREROPE_PALETTE = ((0, 0, 0), (220, 90, 20), (40, 200, 255))


# ----------------------------------------------------------------------------- helpers
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Band-limited noise (zero mean, unit std) with about `cells` blobs across the image."""
    gh = max(2, int(round(cells * h / max(h, w)))) + 3
    gw = max(2, int(round(cells * w / max(h, w)))) + 3
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (w + 2 * (w // gw + 1), h + 2 * (h // gh + 1)), interpolation=cv2.INTER_CUBIC)
    oy, ox = h // gh + 1, w // gw + 1  # crop the border where bicubic extrapolates
    out = big[oy:oy + h, ox:ox + w]
    return (out - out.mean()) / (out.std() + 1e-6)


def _fbm(rng: np.random.Generator, h: int, w: int, base_cells: float, octaves: int = 4) -> np.ndarray:
    """Fractal noise: octaves of `_smooth_noise` with halving amplitude."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        out += amp * _smooth_noise(rng, h, w, base_cells * 2 ** k)
        total += amp
        amp *= 0.5
    return out / total


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _polyline_distance(px: np.ndarray, py: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of pixels (px, py) to a polyline `pts` (N,2) and the arc-length fraction 0..1
    of the nearest point (vectorised over pixels, loop over the few segments)."""
    best = np.full(px.shape, np.inf, np.float32)
    along = np.zeros(px.shape, np.float32)
    seg_len = np.hypot(*(pts[1:] - pts[:-1]).T)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    total = max(cum[-1], 1e-6)
    for k in range(len(pts) - 1):
        (x0, y0), (x1, y1) = pts[k], pts[k + 1]
        dx, dy = x1 - x0, y1 - y0
        l2 = max(dx * dx + dy * dy, 1e-9)
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / l2, 0.0, 1.0)
        d = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
        closer = d < best
        best = np.where(closer, d, best)
        along = np.where(closer, (cum[k] + t * seg_len[k]) / total, along)
    return best, along


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 8) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


# ----------------------------------------------------------------------------- renderer
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

    Returns:
        ``(rgb, mask)``: uint8 ``(H, W, 3)`` image and uint8 ``(H, W)`` class indices.
    """
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    s = min(h, w) / 256.0  # geometry scale relative to the 256-px design size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # --- background scene: coloured fractal noise, a lighting gradient, blurred structures
    base = rng.uniform(0.12, 0.55) * np.array([rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.1), rng.uniform(0.7, 1.25)])
    bg_tex = _fbm(rng, h, w, rng.uniform(2, 6))
    gdir = rng.uniform(0, 2 * np.pi)
    grad = ((xx - w / 2) * np.cos(gdir) + (yy - h / 2) * np.sin(gdir)) / max(h, w)
    bg = base[None, None, :] * (1 + 0.35 * bg_tex[..., None] + rng.uniform(0.2, 0.8) * grad[..., None])
    n_bars = rng.integers(0, 3)  # out-of-focus machine parts / rails
    for _ in range(n_bars):
        ang = rng.uniform(0, np.pi)
        off = rng.uniform(-0.5, 0.5) * max(h, w)
        d = np.abs((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang) - off)
        width = rng.uniform(4, 25) * s
        bg *= 1 + rng.uniform(-0.4, 0.4) * _smoothstep(width, width * 0.4, d)[..., None]

    # --- rope geometry: axis angle, centre offset, radius
    theta = rng.uniform(-0.45, 0.45) + (np.pi / 2 if rng.random() < 0.25 else 0.0)
    cu, su = np.cos(theta), np.sin(theta)
    radius = rng.uniform(0.2, 0.42) * min(h, w)
    centre = rng.uniform(-0.12, 0.12) * min(h, w)
    u = (xx - w / 2) * cu + (yy - h / 2) * su          # along the rope
    v = -(xx - w / 2) * su + (yy - h / 2) * cu - centre  # across the rope
    vn = v / radius
    phi = np.arcsin(np.clip(vn, -1.0, 1.0))  # angle on the cylinder surface

    # unrolled surface coordinates: a along the axis, b = arc length around it
    n_strands = int(rng.choice([5, 6, 6, 6, 8]))
    lay = rng.uniform(5.5, 8.0) * 2 * radius * (1 if rng.random() < 0.5 else -1)  # lay length
    b = phi * radius
    strand_coord = n_strands * (b / (2 * np.pi * radius) - u / lay)
    fs = strand_coord - np.floor(strand_coord)
    strand_bump = np.sqrt(np.clip(1 - (2 * fs - 1) ** 2, 0, 1))
    # outer wires: nearly axial in regular lay, inclined with the strands in Lang lay
    lang = rng.random() < 0.3
    wire_angle = (1.35 if lang else rng.uniform(-0.12, 0.12)) * np.arctan(2 * np.pi * radius / lay)
    strand_width = 2 * np.pi * radius / n_strands * abs(np.cos(np.arctan(2 * np.pi * radius / lay)))
    wire_pitch = strand_width / rng.uniform(4.0, 6.0)
    wire_coord = (b * np.cos(wire_angle) + u * np.sin(wire_angle)) / wire_pitch
    wire_coord = wire_coord + 0.5 * np.floor(strand_coord)  # wires of neighbouring strands are offset
    fw = wire_coord - np.floor(wire_coord)
    wire_bump = np.sqrt(np.clip(1 - (2 * fw - 1) ** 2, 0, 1))
    height = 0.6 * strand_bump + 0.4 * strand_bump * wire_bump

    # silhouette bulges where strand crests reach the edge; antialiased alpha
    edge_coord = n_strands * (np.sign(vn) * 0.25 - u / lay)
    fe = edge_coord - np.floor(edge_coord)
    edge_r = 1.0 - 0.07 * (1 - np.sqrt(np.clip(1 - (2 * fe - 1) ** 2, 0, 1)))
    rope_alpha = np.clip((edge_r - np.abs(vn)) * radius + 0.5, 0.0, 1.0)

    # lighting: cylinder diffuse + strand crests + specular band
    light = rng.uniform(-0.9, 0.9)
    diffuse = np.clip(np.cos(phi - light), 0, 1)
    crest = np.clip(height, 0, 1)
    shade = 0.18 + 0.55 * diffuse * (0.35 + 0.65 * crest) + 0.12 * crest
    spec_w = rng.uniform(0.15, 0.35)
    spec = rng.uniform(0.25, 0.6) * np.exp(-((phi - light * 0.5) / spec_w) ** 2) * crest ** 6
    groove = _smoothstep(0.0, 0.12, np.minimum(fs, 1 - fs))  # dark gaps between strands
    shade = shade * (0.35 + 0.65 * groove)

    steel = rng.uniform(0.55, 0.85) * np.array([1.0, rng.uniform(0.97, 1.04), rng.uniform(0.98, 1.12)])
    if rng.random() < 0.3:  # dark greased rope
        steel = steel * np.array([0.55, 0.5, 0.45])
    tex = 1 + 0.10 * _fbm(rng, h, w, rng.uniform(8, 20), octaves=3)
    rope = steel[None, None, :] * (shade * tex)[..., None] + spec[..., None]
    # along-wire fine scratches
    rope *= 1 + 0.04 * np.sin(2 * np.pi * (u / (3.0 * s + 1)) + 6 * wire_coord)[..., None]

    on_rope = rope_alpha > 0.5
    mask = np.zeros((h, w), np.uint8)

    # --- hard negatives on the rope: grease (dark) and dirt (desaturated brown) patches
    n_dirt = rng.poisson(1.2 * distractors)
    dirt_field = _fbm(rng, h, w, rng.uniform(6, 12), octaves=3)
    for _ in range(n_dirt):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        rad = math.exp(rng.uniform(math.log(6), math.log(40))) * s
        d = np.hypot(xx - cx, yy - cy) / rad
        a = _smoothstep(0.65, 0.35, d + 0.25 * dirt_field) * rng.uniform(0.4, 0.85)
        col = np.array([0.30, 0.26, 0.22]) * rng.uniform(0.3, 1.2)
        rope = rope * (1 - a[..., None]) + (col[None, None, :] * (0.5 + shade[..., None])) * a[..., None]

    # --- corrosion: rust patches (noise-thresholded ellipses aligned with the rope axis)
    if corrosion:
        n_c = int(rng.integers(1, 4))
        for _ in range(n_c):
            uc = rng.uniform(-0.45, 0.45) * max(h, w)
            vc = rng.uniform(-0.8, 0.8) * radius
            rad = math.exp(rng.uniform(math.log(6), math.log(30))) * s * damage_scale
            aspect = rng.uniform(1.0, 2.5)
            de = np.sqrt(((u - uc) / (rad * aspect)) ** 2 + ((v - vc) / rad) ** 2)
            # boundary noise scaled to the patch: ~2-4 blobs per radius -> ragged edges at any size
            field = 1 - de + 0.45 * _fbm(rng, h, w, min(rng.uniform(1.0, 2.0) * max(h, w) / rad, 96), octaves=3)
            thr = rng.uniform(0.25, 0.45)
            a = _smoothstep(thr - 0.08, thr + 0.08, field) * rope_alpha
            heavy = rng.uniform(0.0, 1.0)  # light orange surface rust .. dark brown scale
            rust = np.array([0.72, 0.36, 0.14]) * (1 - 0.5 * heavy) + np.array([0.32, 0.16, 0.08]) * 0.5 * heavy
            speck = 1 + 0.25 * _smooth_noise(rng, h, w, 60 * s + 10)
            rust_img = rust[None, None, :] * ((0.45 + 0.8 * shade) * speck)[..., None]
            opacity = rng.uniform(0.75, 1.0)
            rope = rope * (1 - opacity * a[..., None]) + rust_img * opacity * a[..., None]
            mask[(a > 0.5) & on_rope] = 1

    # composite the rope over the background
    img = bg * (1 - rope_alpha[..., None]) + rope * rope_alpha[..., None]
    # rope shadow on the background (unlabelled dark band along one edge)
    shadow = _smoothstep(1.35, 1.0, np.abs(vn - np.sign(light) * 0.12)) * (1 - rope_alpha)
    img *= 1 - 0.35 * shadow[..., None]

    # --- hard negatives in the scene: thin bright cables in the background
    for _ in range(rng.poisson(0.6 * distractors)):
        p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        p2 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        p1 = (p0 + p2) / 2 + rng.normal(0, 20 * s, 2)
        d, _ = _polyline_distance(xx, yy, _bezier(p0, p1, p2, 10))
        a = _smoothstep(rng.uniform(0.8, 1.6) * max(s, 0.5), 0.0, d) * (1 - rope_alpha)
        img = img * (1 - a[..., None]) + rng.uniform(0.6, 0.95) * a[..., None]

    # --- broken wires: brooms of thin wire ends leaving the strand pattern
    if broken_wire:
        n_b = int(rng.integers(1, 4))
        strand_dir = np.array([np.cos(theta), np.sin(theta)])
        for _ in range(n_b):
            near_edge = rng.random() < 0.45
            vn0 = (rng.uniform(0.65, 0.95) * rng.choice([-1, 1])) if near_edge else rng.uniform(-0.6, 0.6)
            u0 = rng.uniform(-0.4, 0.4) * max(h, w)
            v0 = vn0 * radius + centre
            bx = w / 2 + u0 * cu - v0 * su
            by = h / 2 + u0 * su + v0 * cu
            outward = np.array([-su, cu]) * np.sign(vn0 if near_edge else rng.choice([-1, 1]))
            n_ends = int(rng.integers(1, 6))
            bright = rng.random() < 0.7
            for _e in range(n_ends):
                start = np.array([bx, by]) + rng.normal(0, 3 * s, 2)
                along_w = strand_dir * rng.choice([-1, 1])
                mix = rng.uniform(0.25, 0.9) if near_edge else rng.uniform(0.05, 0.6)
                direction = (1 - mix) * along_w + mix * outward
                direction /= np.linalg.norm(direction) + 1e-9
                length = rng.uniform(8, 34) * s * damage_scale
                mid = start + direction * length * 0.5 + rng.normal(0, 2.5 * s, 2)
                end = start + direction * length + rng.normal(0, 3 * s, 2)
                pts = _bezier(start, mid, end, 8)
                width = max(1.6, rng.uniform(1.4, 3.0) * s)
                x0, x1 = int(max(0, pts[:, 0].min() - 6)), int(min(w, pts[:, 0].max() + 7))
                y0, y1 = int(max(0, pts[:, 1].min() - 6)), int(min(h, pts[:, 1].max() + 7))
                if x1 <= x0 or y1 <= y0:
                    continue
                sub_x, sub_y = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1]
                d, along = _polyline_distance(sub_x, sub_y, pts)
                body = _smoothstep(width / 2 + 0.6, width / 2 - 0.4, d)
                # shadow offset away from the light, unlabelled
                ds, _ = _polyline_distance(sub_x - 1.5 * s, sub_y - 1.5 * s, pts)
                shadow_a = 0.5 * _smoothstep(width / 2 + 1.2, width / 2, ds) * (1 - body)
                patch = img[y0:y1, x0:x1]
                patch *= 1 - shadow_a[..., None]
                if bright:
                    col = rng.uniform(0.75, 1.0) * (0.8 + 0.2 * np.cos(along * 9.0))[..., None]
                else:
                    col = rng.uniform(0.05, 0.2) * np.ones_like(along)[..., None]
                patch[:] = patch * (1 - body[..., None]) + col * body[..., None]
                mask[y0:y1, x0:x1][body > 0.5] = 2

    # --- glints: short bright highlights on crests (unlabelled look-alikes of wire ends)
    glint = (rng.random((h, w)) < 0.0002 * distractors).astype(np.float32) * (crest > 0.85) * on_rope
    if glint.any():
        k = max(3, int(round(7 * s)) | 1)
        kern = np.zeros((k, k), np.float32)
        c = k // 2
        for t in range(-c, c + 1):  # short line along the strand direction
            kern[int(round(c + t * np.sin(theta))), int(round(c + t * np.cos(theta)))] = 1.0
        glint = np.clip(cv2.filter2D(glint, -1, kern), 0, 1)
        img = img + 0.3 * glint[..., None]

    # --- camera: vignette, blur, noise
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (0.5 * max(h, w)) ** 2
    img *= (1 - rng.uniform(0.0, 0.35) * r2)[..., None]
    sigma = rng.uniform(0.0, blur) * s
    if sigma > 0.3:
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    img = img + rng.normal(0.0, noise * rng.uniform(0.5, 1.5), img.shape)
    rgb = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return rgb, mask


# ----------------------------------------------------------------------------- dataset writer
def _palette_bytes(colors=WIREROPE_PALETTE) -> list[int]:
    pal = [0] * 768
    for i, c in enumerate(colors):
        pal[3 * i:3 * i + 3] = list(c)
    pal[3 * 255:3 * 256] = [255, 255, 255]
    return pal


def _stratified_order(kinds: np.ndarray, n_val: int, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Image indexes ordered val first, then test, then train, each split drawn evenly across `kinds`.

    Indexes are shuffled within each kind and laid out kind after kind; val takes every
    (n / n_val)-th of them from a random offset (systematic sampling), test does the same on
    the rest, so every kind gets its share (rounded) in every split.
    """
    pool = np.concatenate([rng.permutation(np.flatnonzero(kinds == k)) for k in np.unique(kinds)])
    picked = []
    for n_take in (n_val, n_test):
        if n_take:
            step = len(pool) / n_take
            at = np.floor(rng.random() * step + np.arange(n_take) * step).astype(int)
            picked.append(pool[at])
            pool = np.delete(pool, at)
    return np.concatenate(picked + [rng.permutation(pool)])


def make_synthetic_wirerope(
    root: str | Path,
    n_images: int = 200,
    size: int | tuple[int, int] = 256,
    seed: int = 0,
    *,
    p_corrosion: float = 0.356,
    p_broken_wire: float = 0.620,
    p_both: float = 0.024,
    noise: float = 0.03,
    blur: float = 0.8,
    distractors: float = 1.0,
    damage_scale: float = 1.0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    jpeg_quality: int | tuple[int, int] = (80, 95),
    overwrite: bool = True,
) -> Path:
    """Write a synthetic steel-wire-rope damage dataset in the VOC layout.

    Layout written under `root`::

        JPEGImages/rope_00000.jpg ...      RGB photographs (JPEG)
        SegmentationClass/rope_00000.png   palette PNGs, values 0/1/2
        ImageSets/Segmentation/{train,val,trainval}.txt (and test.txt if test_fraction > 0)
        classes.txt                        background, corrosion, broken_wire
        synthetic.json                     the generator's arguments

    Each image gets exactly one damage configuration: corrosion only (`p_corrosion`),
    broken wire only (`p_broken_wire`), both (`p_both`) or none (the rest). The defaults
    are the paper's composition (1828 corrosion, 3092 broken-wire, 115 both, of 4805).

    Args:
        root: output folder (created).
        n_images: number of images.
        size: image size, an int (square) or ``(height, width)``.
        seed: master seed; image ``i`` uses ``default_rng([seed, i])``, the split uses ``seed`` and
            is stratified by damage configuration (every split gets its share of each).
        p_corrosion: probability that an image shows corrosion only.
        p_broken_wire: probability that an image shows broken wires only.
        p_both: probability that an image shows both.
        noise: sensor-noise std in [0, 1] units (0 = clean).
        blur: maximum camera-blur sigma in px at 256 px (0 = sharp).
        distractors: rate of unlabelled look-alikes (grease/dirt patches, cables, glints).
        damage_scale: size multiplier of corrosion patches and wire ends.
        val_fraction: share of images in ``val.txt`` (0.1 = the reference's 9:1).
        test_fraction: share of images in ``test.txt`` (0.1 with val 0.1 = the paper's 8:1:1).
        jpeg_quality: JPEG quality, fixed int or a ``(lo, hi)`` range drawn per image.
        overwrite: when False, refuse to write into a non-empty `root`.

    Returns:
        The dataset root as a `Path`.

    Example:
        >>> root = make_synthetic_wirerope("data/wirerope", n_images=200, size=256, seed=0)
    """
    root = Path(root)
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    probs = (p_corrosion, p_broken_wire, p_both)
    if min(probs) < 0 or sum(probs) > 1 + 1e-9:
        raise ValueError(f"p_corrosion, p_broken_wire, p_both must be >= 0 and sum to <= 1, got {probs}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction + test_fraction must be in [0, 1), got {val_fraction} + {test_fraction}")
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if min(hw) < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size}")
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ValueError(f"{root} is not empty; pass overwrite=True or choose another root")

    img_dir, mask_dir = root / "JPEGImages", root / "SegmentationClass"
    split_dir = root / "ImageSets" / "Segmentation"
    for d in (img_dir, mask_dir, split_dir):
        d.mkdir(parents=True, exist_ok=True)
    palette = _palette_bytes()

    names, kinds = [], []
    for i in range(n_images):
        rng = np.random.default_rng([seed, i])
        r = rng.random()
        corrosion = r < p_corrosion + p_both
        broken = (p_corrosion <= r < p_corrosion + p_both + p_broken_wire)
        rgb, mask = render_wirerope(
            rng, hw, corrosion=corrosion, broken_wire=broken, noise=noise, blur=blur,
            distractors=distractors, damage_scale=damage_scale,
        )
        q = jpeg_quality if isinstance(jpeg_quality, int) else int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
        name = f"rope_{i:05d}"
        Image.fromarray(rgb).save(img_dir / f"{name}.jpg", quality=q)
        m = Image.fromarray(mask, mode="P")
        m.putpalette(palette)
        m.save(mask_dir / f"{name}.png", optimize=False)
        names.append(name)
        kinds.append(int(corrosion) + 2 * int(broken))

    # seeded split, stratified by damage configuration so a small val set still holds every class
    n_val = int(round(n_images * val_fraction))
    n_test = int(round(n_images * test_fraction))
    if val_fraction > 0 and n_val == 0 and n_images > 1:
        n_val = 1
    order = _stratified_order(np.asarray(kinds), n_val, n_test, np.random.default_rng(seed))
    val = sorted(names[k] for k in order[:n_val])
    test = sorted(names[k] for k in order[n_val:n_val + n_test])
    train = sorted(names[k] for k in order[n_val + n_test:])
    splits = {"train": train, "val": val, "trainval": sorted(train + val)}
    if test_fraction > 0:
        splits["test"] = test
    for split, items in splits.items():
        (split_dir / f"{split}.txt").write_text("".join(f"{n}\n" for n in items), encoding="utf-8")
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in WIREROPE_CLASSES), encoding="utf-8")
    meta = dict(
        generator="segkit.data.make_synthetic_wirerope", n_images=n_images, size=list(hw), seed=seed,
        p_corrosion=p_corrosion, p_broken_wire=p_broken_wire, p_both=p_both, noise=noise, blur=blur,
        distractors=distractors, damage_scale=damage_scale, val_fraction=val_fraction,
        test_fraction=test_fraction, jpeg_quality=jpeg_quality,
    )
    (root / "synthetic.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return root
