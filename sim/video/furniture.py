"""Furniture geometry: the boxes each piece is made of, where people sit on it and lie on it.

Every piece has a local frame: `front` is its heading (the way a sitter faces; a bed's foot end)
and `lateral` is to the right of it; `size` is (lateral width, front depth). Heights are typical
European ones (seat 0.45 m, bed 0.5 m, table 0.75 m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.video.geometry import heading_vector, right_vector
from sim.video.scene import Color, Furniture

MATTRESS: Color = (226, 230, 232)
PILLOW: Color = (240, 242, 244)
SEAT_Z = {"chair": 0.47, "sofa": 0.45, "bed": 0.5}
LIE_Z = {"sofa": 0.45, "bed": 0.52}


@dataclass(frozen=True, slots=True)
class Box:
    """A box in world coordinates: centre on the floor plane, heading, half sizes, heights, colour."""

    cx: float
    cy: float
    heading: float
    half_lat: float
    half_front: float
    z0: float
    z1: float
    color: Color


def _box(
    item: Furniture,
    at: tuple[float, float],
    size: tuple[float, float],
    zs: tuple[float, float],
    color: Color,
) -> Box:
    """A part of `item`: offset `at` (lateral, front) from its centre, full size (lateral, front), heights."""
    lat, front = at
    h = math.radians(item.heading_deg)
    f, r = heading_vector(h), right_vector(h)
    c = np.array([item.at[0], item.at[1], 0.0]) + lat * r + front * f
    return Box(float(c[0]), float(c[1]), h, size[0] / 2, size[1] / 2, zs[0], zs[1], color)


def _legs(item: Furniture, top_z: float, leg: float) -> list[Box]:
    w, d = item.size
    return [
        _box(item, (sx * (w / 2 - leg / 2), sy * (d / 2 - leg / 2)), (leg, leg), (0.0, top_z), item.color)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]


def _darker(c: Color, k: float) -> Color:
    return (int(c[0] * k), int(c[1] * k), int(c[2] * k))


def boxes(item: Furniture) -> list[Box]:
    """The boxes that make up a piece of furniture."""
    w, d = item.size
    if item.type == "chair":
        return [
            *_legs(item, 0.42, 0.04),
            _box(item, (0, 0), (w, d), (0.42, 0.47), item.color),
            _box(item, (0, -d / 2 + 0.03), (w, 0.05), (0.47, 0.92), item.color),
        ]
    if item.type == "table":
        return [*_legs(item, 0.71, 0.06), _box(item, (0, 0), (w, d), (0.71, 0.75), item.color)]
    if item.type == "sofa":
        arm = 0.2
        return [
            _box(item, (0, 0.1), (w - 2 * arm, d - 0.2), (0.0, 0.45), item.color),
            _box(item, (0, -d / 2 + 0.1), (w, 0.2), (0.0, 0.85), _darker(item.color, 0.9)),
            _box(item, (-w / 2 + arm / 2, 0.1), (arm, d - 0.2), (0.0, 0.6), item.color),
            _box(item, (w / 2 - arm / 2, 0.1), (arm, d - 0.2), (0.0, 0.6), item.color),
        ]
    # bed: frame, mattress, headboard at the head end, pillow
    return [
        _box(item, (0, 0), (w, d), (0.0, 0.3), item.color),
        _box(item, (0, 0.02), (w - 0.04, d - 0.08), (0.3, 0.5), MATTRESS),
        _box(item, (0, -d / 2 + 0.03), (w, 0.06), (0.0, 1.0), _darker(item.color, 0.85)),
        _box(item, (0, -d / 2 + 0.3), (w * 0.6, 0.35), (0.5, 0.6), PILLOW),
    ]


def _local(item: Furniture, lat: float, front: float) -> tuple[float, float]:
    h = math.radians(item.heading_deg)
    f, r = heading_vector(h), right_vector(h)
    return (float(item.at[0] + lat * r[0] + front * f[0]), float(item.at[1] + lat * r[1] + front * f[1]))


@dataclass(frozen=True, slots=True)
class SeatSpot:
    """Sitting on furniture: where the pelvis goes, how high, facing where, and where to stand first."""

    seat: tuple[float, float]
    seat_z: float
    heading: float
    approach: tuple[float, float]


@dataclass(frozen=True, slots=True)
class LieSpot:
    """Lying on furniture: sit here first, then the pelvis goes to `root` with the feet towards `heading`."""

    sit: SeatSpot
    root: tuple[float, float]
    heading: float
    surface_z: float


def seat_spot(item: Furniture, side: int = 1) -> SeatSpot:
    """Where a person sits on a chair, a sofa (middle) or a bed (edge on `side`)."""
    w, d = item.size
    h = math.radians(item.heading_deg)
    if item.type == "bed":
        facing = h - side * math.pi / 2
        seat = _local(item, side * (w / 2 - 0.18), 0.1)
        approach = _local(item, side * (w / 2 + 0.3), 0.1)
        return SeatSpot(seat, SEAT_Z["bed"], facing, approach)
    seat = _local(item, 0.0, 0.06 if item.type == "sofa" else 0.03)
    approach = _local(item, 0.0, d / 2 + 0.32)
    return SeatSpot(seat, SEAT_Z.get(item.type, 0.47), h, approach)


def lie_spot(item: Furniture, body_h: float, side: int = 1) -> LieSpot:
    """Where a person lies on a bed (along it, on the back) or a sofa (across it, head on an arm)."""
    w, d = item.size
    h = math.radians(item.heading_deg)
    sit = seat_spot(item, side)
    if item.type == "bed":
        front = max(min(d / 2 - 0.55 * body_h - 0.05, 0.2), -0.2)
        return LieSpot(sit, _local(item, 0.0, front), h, LIE_Z["bed"])
    inner = w - 0.4
    lat = side * max(inner / 2 - 0.5 * body_h, 0.0)
    return LieSpot(sit, _local(item, lat, 0.1), h - side * math.pi / 2, LIE_Z["sofa"])


def inside(item: Furniture, x: float, y: float, margin: float = 0.0) -> bool:
    """Whether a floor point is within the footprint of `item` grown by `margin`."""
    h = math.radians(item.heading_deg)
    f, r = heading_vector(h), right_vector(h)
    dx, dy = x - item.at[0], y - item.at[1]
    lat = dx * r[0] + dy * r[1]
    front = dx * f[0] + dy * f[1]
    return bool(abs(lat) <= item.size[0] / 2 + margin and abs(front) <= item.size[1] / 2 + margin)
