"""Synthetic stick-figure people for the pose-feature and fall-state tests: standing, falling, lying down.

A body is COCO-17 points at fractions of stature (anthropometric tables), rotated about a pivot, so a
fall is the rigid body tipping over about the feet and a lie-down is a slow descent onto a bed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from gateway.vision.pose_features import BlobBox, Pose

# (x across the body, height above the floor), both in statures
STANDING = np.array(
    [
        (0.0, 0.93), (0.02, 0.94), (-0.02, 0.94), (0.05, 0.93), (-0.05, 0.93),
        (0.1, 0.82), (-0.1, 0.82), (0.12, 0.65), (-0.12, 0.65), (0.12, 0.5), (-0.12, 0.5),
        (0.05, 0.53), (-0.05, 0.53), (0.05, 0.29), (-0.05, 0.29), (0.05, 0.03), (-0.05, 0.03),
    ],
    np.float64,
)  # fmt: skip
STATURE_PX = 200.0
FLOOR_Y = 420.0
X0 = 300.0
FRAME_HEIGHT = 480

Body = tuple[float, float, float]  # tipping angle (rad), pivot height (statures), pivot lift (statures)


def pose_of(angle: float, pivot_h: float = 0.0, drop: float = 0.0, score: float = 0.9) -> Pose:
    """The body tipped by ``angle`` about the point at ``pivot_h`` on its axis, lowered by ``drop``."""
    x, h = STANDING[:, 0], STANDING[:, 1] - pivot_h
    c, s = math.cos(angle), math.sin(angle)
    xr, hr = x * c + h * s, h * c - x * s
    xy = np.stack([X0 + STATURE_PX * xr, FLOOR_Y - STATURE_PX * (hr + pivot_h - drop)], axis=1)
    return Pose(xy.astype(np.float32), np.full(17, score, np.float32))


def blob_of(pose: Pose, pad: float = 10.0) -> BlobBox:
    """The box around a pose's points, a little padded (a motion blob)."""
    x0, y0 = pose.xy.min(axis=0) - pad
    x1, y1 = pose.xy.max(axis=0) + pad
    return BlobBox(float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def _smooth(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


def fall(t: float, start: float = 2.0, duration: float = 0.8) -> Pose:
    """Standing, then tipping over about the feet to the floor (impact at start + duration)."""
    u = min(max((t - start) / duration, 0.0), 1.0)
    return pose_of(0.5 * math.pi * u * u)  # accelerating, like a body falling


def lie_down(t: float, start: float = 2.0, bed: float = 0.3) -> Pose:
    """Standing, then over 5 s sitting onto a bed and lying back on it (slow and controlled)."""
    sit = _smooth((t - start) / 2.0)
    lie = _smooth((t - start - 2.0) / 3.0)
    return pose_of(0.5 * math.pi * lie, pivot_h=0.53, drop=(0.53 - bed) * sit)


def get_up(t: float, start: float) -> Pose:
    """Lying on the floor, then standing up again over 2 s from ``start``."""
    u = _smooth((t - start) / 2.0)
    return pose_of(0.5 * math.pi * (1.0 - u))


def frames(
    motion: Callable[[float], Pose], seconds: float, fps: float, t0: float = 0.0
) -> Iterator[tuple[float, Pose]]:
    """(time, pose) at ``fps`` for ``seconds``."""
    for i in range(round(seconds * fps)):
        t = t0 + i / fps
        yield t, motion(t)


def lost(pose: Pose) -> Pose:
    """The same pose as MoveNet gives for a person lying on the floor: every score collapsed."""
    return Pose(pose.xy, np.full(17, 0.1, np.float32))
