"""The pixel grid every drawing step shares, and the out-of-focus scene behind the rope."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._noise import _fbm, _smoothstep


@dataclass
class Grid:
    """Pixel coordinates of one image; ``s`` scales geometry relative to the 256-px design size."""

    h: int
    w: int
    s: float
    yy: np.ndarray
    xx: np.ndarray

    @classmethod
    def of(cls, size: int | tuple[int, int]) -> Grid:
        h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        return cls(h, w, min(h, w) / 256.0, yy, xx)


def draw_background(rng: np.random.Generator, g: Grid) -> np.ndarray:
    """Coloured fractal noise, a lighting gradient and blurred bars (machine parts, rails): ``(H, W, 3)``."""
    h, w, xx, yy = g.h, g.w, g.xx, g.yy
    base = rng.uniform(0.12, 0.55) * np.array([rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.1), rng.uniform(0.7, 1.25)])
    bg_tex = _fbm(rng, h, w, rng.uniform(2, 6))
    gdir = rng.uniform(0, 2 * np.pi)
    grad = ((xx - w / 2) * np.cos(gdir) + (yy - h / 2) * np.sin(gdir)) / max(h, w)
    bg = base[None, None, :] * (1 + 0.35 * bg_tex[..., None] + rng.uniform(0.2, 0.8) * grad[..., None])
    n_bars = rng.integers(0, 3)
    for _ in range(n_bars):
        ang = rng.uniform(0, np.pi)
        off = rng.uniform(-0.5, 0.5) * max(h, w)
        d = np.abs((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang) - off)
        width = rng.uniform(4, 25) * g.s
        bg *= 1 + rng.uniform(-0.4, 0.4) * _smoothstep(width, width * 0.4, d)[..., None]
    return bg
