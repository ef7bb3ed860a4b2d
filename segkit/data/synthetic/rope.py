"""The rope itself: a cylinder of helical strands of wires, shaded, with its silhouette."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._noise import _fbm, _smoothstep
from .scene import Grid


@dataclass
class Rope:
    """Geometry and shading of the rope that the damage steps draw on.

    ``u``/``v`` are pixel coordinates along/across the rope axis, ``vn`` = ``v / radius``,
    ``phi`` the angle on the cylinder, ``alpha`` the antialiased silhouette.
    """

    theta: float
    radius: float
    centre: float
    u: np.ndarray
    v: np.ndarray
    vn: np.ndarray
    alpha: np.ndarray
    crest: np.ndarray
    shade: np.ndarray
    wire_coord: np.ndarray
    light: float

    @property
    def on(self) -> np.ndarray:
        return self.alpha > 0.5


def _axes(rng: np.random.Generator, g: Grid) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """Axis angle, radius, centre offset and the along/across coordinates."""
    theta = rng.uniform(-0.45, 0.45) + (np.pi / 2 if rng.random() < 0.25 else 0.0)
    cu, su = np.cos(theta), np.sin(theta)
    radius = rng.uniform(0.2, 0.42) * min(g.h, g.w)
    centre = rng.uniform(-0.12, 0.12) * min(g.h, g.w)
    u = (g.xx - g.w / 2) * cu + (g.yy - g.h / 2) * su
    v = -(g.xx - g.w / 2) * su + (g.yy - g.h / 2) * cu - centre
    return theta, radius, centre, u, v


def _strands(rng: np.random.Generator, u: np.ndarray, phi: np.ndarray, radius: float):
    """Strand and wire relief on the unrolled surface (a along the axis, b around it)."""
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
    return n_strands, lay, fs, wire_coord, height


def draw_rope(rng: np.random.Generator, g: Grid) -> tuple[np.ndarray, Rope]:
    """Render the rope's colours ``(H, W, 3)`` (before compositing) and its geometry."""
    theta, radius, centre, u, v = _axes(rng, g)
    vn = v / radius
    phi = np.arcsin(np.clip(vn, -1.0, 1.0))
    n_strands, lay, fs, wire_coord, height = _strands(rng, u, phi, radius)
    # silhouette bulges where strand crests reach the edge; antialiased alpha
    edge_coord = n_strands * (np.sign(vn) * 0.25 - u / lay)
    fe = edge_coord - np.floor(edge_coord)
    edge_r = 1.0 - 0.07 * (1 - np.sqrt(np.clip(1 - (2 * fe - 1) ** 2, 0, 1)))
    alpha = np.clip((edge_r - np.abs(vn)) * radius + 0.5, 0.0, 1.0)

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
    tex = 1 + 0.10 * _fbm(rng, g.h, g.w, rng.uniform(8, 20), octaves=3)
    rope = steel[None, None, :] * (shade * tex)[..., None] + spec[..., None]
    rope *= 1 + 0.04 * np.sin(2 * np.pi * (u / (3.0 * g.s + 1)) + 6 * wire_coord)[..., None]  # fine scratches
    return rope, Rope(theta, radius, centre, u, v, vn, alpha, crest, shade, wire_coord, light)
