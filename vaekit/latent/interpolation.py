"""Paths between two latent codes: straight (lerp) or along the sphere (slerp).

Under a standard Gaussian prior almost all mass lies near the sphere of radius sqrt(d);
the straight line between two typical codes cuts through the low-norm interior, where
the decoder has seen few codes. Spherical interpolation (White, 2016) turns the direction
at a constant angular speed and changes the norm linearly, so between two codes of equal
norm it stays on their sphere.
"""

from __future__ import annotations

import numpy as np

from vaekit.errors import ConfigError

MODES = ("lerp", "slerp")
#: Below this angle (radians) between the codes, slerp is a straight line to numerical precision.
_MIN_ANGLE = 1e-6


def lerp(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points ``(len(t), d)`` on the straight line, t = 0 at ``start`` and 1 at ``end``."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (1 - t) * start[None] + t * end[None]


def slerp(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points ``(len(t), d)``: the direction rotates uniformly, the norm goes linearly.

    When the angle is undefined or degenerate (a zero code, equal or opposite directions)
    no great circle is singled out, and the straight line is returned instead.
    """
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    norms = np.linalg.norm(start), np.linalg.norm(end)
    if min(norms) == 0:
        return lerp(start, end, t)
    u, v = start / norms[0], end / norms[1]
    angle = np.arccos(np.clip(u @ v, -1.0, 1.0))
    if angle < _MIN_ANGLE or np.pi - angle < _MIN_ANGLE:
        return lerp(start, end, t)
    t = np.asarray(t, dtype=np.float64)[:, None]
    direction = (np.sin((1 - t) * angle) * u + np.sin(t * angle) * v) / np.sin(angle)
    return direction * ((1 - t) * norms[0] + t * norms[1])


def interpolate(start: np.ndarray, end: np.ndarray, steps: int = 10, mode: str = "lerp") -> np.ndarray:
    """``steps`` codes from ``start`` to ``end`` inclusive, ``(steps, d)``."""
    if mode not in MODES:
        raise ConfigError(f"unknown interpolation mode {mode!r}; choose one of {', '.join(MODES)}")
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 (the two end points), got {steps}")
    path = (lerp if mode == "lerp" else slerp)(np.asarray(start), np.asarray(end), np.linspace(0, 1, steps))
    return path.astype(np.float32)
