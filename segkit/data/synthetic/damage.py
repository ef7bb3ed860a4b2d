"""What is drawn on and around the rope: the two damage classes and their unlabelled look-alikes."""
from __future__ import annotations

import math

import cv2
import numpy as np

from ._noise import _bezier, _fbm, _polyline_distance, _smooth_noise, _smoothstep
from .rope import Rope
from .scene import Grid


def add_dirt(rng: np.random.Generator, g: Grid, rope: Rope, img: np.ndarray, distractors: float) -> np.ndarray:
    """Unlabelled grease (dark) and dirt (desaturated brown) patches: look-alikes of corrosion."""
    n_dirt = rng.poisson(1.2 * distractors)
    dirt_field = _fbm(rng, g.h, g.w, rng.uniform(6, 12), octaves=3)
    for _ in range(n_dirt):
        cx, cy = rng.uniform(0.1, 0.9) * g.w, rng.uniform(0.1, 0.9) * g.h
        rad = math.exp(rng.uniform(math.log(6), math.log(40))) * g.s
        d = np.hypot(g.xx - cx, g.yy - cy) / rad
        a = _smoothstep(0.65, 0.35, d + 0.25 * dirt_field) * rng.uniform(0.4, 0.85)
        col = np.array([0.30, 0.26, 0.22]) * rng.uniform(0.3, 1.2)
        img = img * (1 - a[..., None]) + (col[None, None, :] * (0.5 + rope.shade[..., None])) * a[..., None]
    return img


def add_corrosion(rng: np.random.Generator, g: Grid, rope: Rope, img: np.ndarray, mask: np.ndarray,
                  damage_scale: float) -> np.ndarray:
    """1-3 rust patches (noise-thresholded ellipses along the axis), labelled 1 in ``mask``."""
    h, w = g.h, g.w
    for _ in range(int(rng.integers(1, 4))):
        uc = rng.uniform(-0.45, 0.45) * max(h, w)
        vc = rng.uniform(-0.8, 0.8) * rope.radius
        rad = math.exp(rng.uniform(math.log(6), math.log(30))) * g.s * damage_scale
        aspect = rng.uniform(1.0, 2.5)
        de = np.sqrt(((rope.u - uc) / (rad * aspect)) ** 2 + ((rope.v - vc) / rad) ** 2)
        # boundary noise scaled to the patch: ~2-4 blobs per radius -> ragged edges at any size
        field = 1 - de + 0.45 * _fbm(rng, h, w, min(rng.uniform(1.0, 2.0) * max(h, w) / rad, 96), octaves=3)
        thr = rng.uniform(0.25, 0.45)
        a = _smoothstep(thr - 0.08, thr + 0.08, field) * rope.alpha
        heavy = rng.uniform(0.0, 1.0)  # light orange surface rust .. dark brown scale
        rust = np.array([0.72, 0.36, 0.14]) * (1 - 0.5 * heavy) + np.array([0.32, 0.16, 0.08]) * 0.5 * heavy
        speck = 1 + 0.25 * _smooth_noise(rng, h, w, 60 * g.s + 10)
        rust_img = rust[None, None, :] * ((0.45 + 0.8 * rope.shade) * speck)[..., None]
        opacity = rng.uniform(0.75, 1.0)
        img = img * (1 - opacity * a[..., None]) + rust_img * opacity * a[..., None]
        mask[(a > 0.5) & rope.on] = 1
    return img


def add_cables(rng: np.random.Generator, g: Grid, rope: Rope, img: np.ndarray, distractors: float) -> np.ndarray:
    """Thin bright cables in the background: unlabelled look-alikes of broken wires."""
    for _ in range(rng.poisson(0.6 * distractors)):
        p0 = np.array([rng.uniform(0, g.w), rng.uniform(0, g.h)])
        p2 = np.array([rng.uniform(0, g.w), rng.uniform(0, g.h)])
        p1 = (p0 + p2) / 2 + rng.normal(0, 20 * g.s, 2)
        d, _ = _polyline_distance(g.xx, g.yy, _bezier(p0, p1, p2, 10))
        a = _smoothstep(rng.uniform(0.8, 1.6) * max(g.s, 0.5), 0.0, d) * (1 - rope.alpha)
        img = img * (1 - a[..., None]) + rng.uniform(0.6, 0.95) * a[..., None]
    return img


def _wire_end(rng, g: Grid, img, mask, start, direction, bright: bool, damage_scale: float,
              wire_width: float, label_margin: float = 0.0) -> None:
    """Draw one wire end (a thin Bezier with an unlabelled shadow) in place; label it 2, and
    `label_margin` px around it (as an annotator's polygon around a broom, not each wire)."""
    length = rng.uniform(8, 34) * g.s * damage_scale
    mid = start + direction * length * 0.5 + rng.normal(0, 2.5 * g.s, 2)
    end = start + direction * length + rng.normal(0, 3 * g.s, 2)
    pts = _bezier(start, mid, end, 8)
    width = max(1.6, rng.uniform(1.4, 3.0) * g.s) * wire_width
    x0, x1 = int(max(0, pts[:, 0].min() - 6)), int(min(g.w, pts[:, 0].max() + 7))
    y0, y1 = int(max(0, pts[:, 1].min() - 6)), int(min(g.h, pts[:, 1].max() + 7))
    if x1 <= x0 or y1 <= y0:
        return
    sub_x, sub_y = g.xx[y0:y1, x0:x1], g.yy[y0:y1, x0:x1]
    d, along = _polyline_distance(sub_x, sub_y, pts)
    body = _smoothstep(width / 2 + 0.6, width / 2 - 0.4, d)
    ds, _ = _polyline_distance(sub_x - 1.5 * g.s, sub_y - 1.5 * g.s, pts)  # shadow away from the light
    shadow_a = 0.5 * _smoothstep(width / 2 + 1.2, width / 2, ds) * (1 - body)
    patch = img[y0:y1, x0:x1]
    patch *= 1 - shadow_a[..., None]
    if bright:
        col = rng.uniform(0.75, 1.0) * (0.8 + 0.2 * np.cos(along * 9.0))[..., None]
    else:
        col = rng.uniform(0.05, 0.2) * np.ones_like(along)[..., None]
    patch[:] = patch * (1 - body[..., None]) + col * body[..., None]
    mask[y0:y1, x0:x1][(body > 0.5) | (d <= width / 2 + min(label_margin, 5.0))] = 2


def add_broken_wires(rng: np.random.Generator, g: Grid, rope: Rope, img: np.ndarray, mask: np.ndarray,
                     damage_scale: float, wire_width: float = 1.0, dark_wires: float = 0.3,
                     label_margin: float = 0.0) -> None:
    """1-3 brooms of 1-5 thin wire ends leaving the strand pattern (in place), labelled 2; a
    broom is dark (a shadowed, low-contrast break) with probability `dark_wires`, else bright."""
    cu, su = np.cos(rope.theta), np.sin(rope.theta)
    strand_dir = np.array([cu, su])
    for _ in range(int(rng.integers(1, 4))):
        near_edge = rng.random() < 0.45
        vn0 = (rng.uniform(0.65, 0.95) * rng.choice([-1, 1])) if near_edge else rng.uniform(-0.6, 0.6)
        u0 = rng.uniform(-0.4, 0.4) * max(g.h, g.w)
        v0 = vn0 * rope.radius + rope.centre
        bx = g.w / 2 + u0 * cu - v0 * su
        by = g.h / 2 + u0 * su + v0 * cu
        outward = np.array([-su, cu]) * np.sign(vn0 if near_edge else rng.choice([-1, 1]))
        n_ends = int(rng.integers(1, 6))
        bright = rng.random() >= dark_wires
        for _e in range(n_ends):
            start = np.array([bx, by]) + rng.normal(0, 3 * g.s, 2)
            along_w = strand_dir * rng.choice([-1, 1])
            mix = rng.uniform(0.25, 0.9) if near_edge else rng.uniform(0.05, 0.6)
            direction = (1 - mix) * along_w + mix * outward
            direction /= np.linalg.norm(direction) + 1e-9
            _wire_end(rng, g, img, mask, start, direction, bright, damage_scale, wire_width, label_margin)


def add_glints(rng: np.random.Generator, g: Grid, rope: Rope, img: np.ndarray, distractors: float) -> np.ndarray:
    """Short bright highlights on strand crests: unlabelled look-alikes of wire ends."""
    glint = (rng.random((g.h, g.w)) < 0.0002 * distractors).astype(np.float32) * (rope.crest > 0.85) * rope.on
    if glint.any():
        k = max(3, int(round(7 * g.s)) | 1)
        kern = np.zeros((k, k), np.float32)
        c = k // 2
        for t in range(-c, c + 1):  # short line along the strand direction
            kern[int(round(c + t * np.sin(rope.theta))), int(round(c + t * np.cos(rope.theta)))] = 1.0
        glint = np.clip(cv2.filter2D(glint, -1, kern), 0, 1)
        img = img + 0.3 * glint[..., None]
    return img
