"""Zones and privacy masks of one camera: normalised polygons, rasterised at the analysis size.

Coordinates are fractions of the frame (x to the right, y down, 0..1), as in the config, so a
camera's zones and masks hold at any resolution. Masks are rasterised conservatively: every
pixel the polygon touches at all is masked, so no partly masked pixel is ever analysed (the
downscaled frame mixes neighbouring pixels, which is why a boundary pixel counts as masked).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Polygon = tuple[Point, ...]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1, normalised
BoolImage = npt.NDArray[np.bool_]

_SHIFT = 8  # fixed-point bits for cv2's polygon drawing: sub-pixel vertex positions
_EPS = 1e-9


def rasterise(polygons: Sequence[Polygon], width: int, height: int) -> BoolImage:
    """True for every pixel of a `width` x `height` image that any polygon touches."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    canvas = np.zeros((height, width), np.uint8)
    scale = float(1 << _SHIFT)
    for polygon in polygons:
        if len(polygon) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(polygon)}")
        # Pixel i spans [i, i+1) and cv2 samples it at i: shift by half a pixel so the test is
        # "pixel centre inside", then draw the outline too for pixels the edge only crosses.
        pts = np.array([((x * width - 0.5) * scale, (y * height - 0.5) * scale) for x, y in polygon])
        contour = [np.round(pts).astype(np.int32).reshape(-1, 1, 2)]
        cv2.fillPoly(canvas, contour, 255, cv2.LINE_8, _SHIFT)
        cv2.polylines(canvas, contour, True, 255, 1, cv2.LINE_8, _SHIFT)
    return canvas > 0


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    (px, py), (ax, ay), (bx, by) = p, a, b
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    if abs(cross) > _EPS:
        return False
    return min(ax, bx) - _EPS <= px <= max(ax, bx) + _EPS and min(ay, by) - _EPS <= py <= max(ay, by) + _EPS


def contains(polygon: Polygon, point: Point) -> bool:
    """Whether `point` lies inside `polygon` or on its boundary (even-odd rule)."""
    x, y = point
    inside = False
    for i, a in enumerate(polygon):
        b = polygon[i - 1]
        if _on_segment(point, a, b):
            return True
        if (a[1] > y) != (b[1] > y):
            crossing = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            if x < crossing:
                inside = not inside
    return inside


class Regions:
    """One camera's named zones and privacy masks."""

    def __init__(
        self, zones: Sequence[tuple[str, Sequence[Point]]] = (), masks: Sequence[Sequence[Point]] = ()
    ):
        self.zones: tuple[tuple[str, Polygon], ...] = tuple((name, tuple(poly)) for name, poly in zones)
        self.masks: tuple[Polygon, ...] = tuple(tuple(poly) for poly in masks)
        for polygon in [*self.masks, *(poly for _, poly in self.zones)]:
            if len(polygon) < 3 or not all(0 <= x <= 1 and 0 <= y <= 1 for x, y in polygon):
                raise ValueError(f"a region is >= 3 points with 0 <= x, y <= 1, got {polygon}")
        self._masked = lru_cache(maxsize=4)(self._rasterise_masks)
        self._zone_raster = lru_cache(maxsize=16)(self._rasterise_zone)

    def _rasterise_masks(self, width: int, height: int) -> BoolImage | None:
        return rasterise(self.masks, width, height) if self.masks else None

    def _rasterise_zone(self, index: int, width: int, height: int) -> BoolImage:
        return rasterise([self.zones[index][1]], width, height)

    def masked(self, width: int, height: int) -> BoolImage | None:
        """True where pixels are never analysed (None when the camera has no masks); cached per size."""
        return self._masked(width, height)

    def keep(self, width: int, height: int) -> BoolImage:
        """True where pixels may be analysed."""
        masked = self._masked(width, height)
        return np.ones((height, width), np.bool_) if masked is None else ~masked

    def black_out(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Set every masked pixel of `image` (H x W or H x W x C) to zero, in place; returns it."""
        masked = self._masked(image.shape[1], image.shape[0])
        if masked is not None:
            image[masked] = 0
        return image

    def zone_at(self, x: float, y: float) -> str | None:
        """The first configured zone containing the normalised point (boundaries included)."""
        for name, polygon in self.zones:
            if contains(polygon, (x, y)):
                return name
        return None

    def zone_of_box(self, box: Box, size: tuple[int, int] = (160, 120)) -> str | None:
        """The zone of an object's box: where its bottom centre stands, else the zone it overlaps most.

        The bottom centre is where a standing or lying person touches the floor, which is what a
        zone drawn on the floor means; `size` is the raster used to measure overlaps.
        """
        x0, y0, x1, y1 = box
        if not (x0 <= x1 and y0 <= y1):
            raise ValueError(f"a box is (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got {box}")
        foot = self.zone_at((x0 + x1) / 2, y1)
        if foot is not None or not self.zones:
            return foot
        width, height = size
        c0, r0 = max(0, int(x0 * width)), max(0, int(y0 * height))
        c1, r1 = min(width, int(np.ceil(x1 * width)) or 1), min(height, int(np.ceil(y1 * height)) or 1)
        best, best_overlap = None, 0
        for index, (name, _) in enumerate(self.zones):
            overlap = int(self._zone_raster(index, width, height)[r0:r1, c0:c1].sum())
            if overlap > best_overlap:
                best, best_overlap = name, overlap
        return best
