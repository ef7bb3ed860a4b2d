"""Noise fields and curve helpers the wire-rope renderer draws with."""
from __future__ import annotations

import cv2
import numpy as np


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
