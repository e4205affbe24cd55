"""Pinhole camera and 3-D helpers for the video simulator.

World frame: metres, x to the right along the room's front wall, y into the room (depth), z up,
floor at z = 0. Headings are degrees in the floor plane from +x towards +y, so 90 looks away from
a camera on the front wall. Depth is the camera-frame z (along the optical axis), the same for
projected people and the ray-cast room, so the two can be z-tested against each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
NEAR_M = 0.2  # points closer than this to the camera plane are not drawn


def heading_vector(heading_rad: float) -> F64:
    """The unit floor vector of a heading (radians from +x towards +y)."""
    return np.array([math.cos(heading_rad), math.sin(heading_rad), 0.0])


def right_vector(heading_rad: float) -> F64:
    """The unit floor vector to the right of someone facing `heading_rad`."""
    return np.array([math.sin(heading_rad), -math.cos(heading_rad), 0.0])


def wrap_angle(a: float) -> float:
    """An angle in radians wrapped to [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@dataclass(frozen=True, slots=True)
class Camera:
    """A pinhole camera: position, pan (heading) and downward tilt, horizontal field of view."""

    width: int
    height: int
    position: tuple[float, float, float]
    pan_deg: float = 90.0
    tilt_deg: float = 30.0
    hfov_deg: float = 70.0

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    def axes(self) -> tuple[F64, F64, F64]:
        """Camera axes in world coordinates: right, down (image v) and forward (optical axis)."""
        pan, tilt = math.radians(self.pan_deg), math.radians(self.tilt_deg)
        fwd = np.array([math.cos(tilt) * math.cos(pan), math.cos(tilt) * math.sin(pan), -math.sin(tilt)])
        right = right_vector(pan)
        down = np.cross(fwd, right)
        return right, down, fwd

    def to_camera(self, points: F64) -> F64:
        """World points (N, 3) in camera coordinates (N, 3): x right, y down, z depth."""
        right, down, fwd = self.axes()
        rel = points - np.asarray(self.position)
        return np.stack([rel @ right, rel @ down, rel @ fwd], axis=-1)

    def project(self, points: F64) -> tuple[F64, F64]:
        """World points (N, 3) -> pixel coordinates (N, 2) and depth (N,); depth <= NEAR_M is invalid."""
        cam = self.to_camera(points)
        depth = cam[:, 2]
        safe = np.where(depth > NEAR_M, depth, NEAR_M)
        f = self.focal_px
        uv = np.stack(
            [self.width / 2.0 + f * cam[:, 0] / safe, self.height / 2.0 + f * cam[:, 1] / safe], axis=-1
        )
        return uv, depth

    def rays(self, x0: int = 0, y0: int = 0, x1: int | None = None, y1: int | None = None) -> F64:
        """World ray directions (h, w, 3) for a pixel window, scaled to unit camera depth."""
        x1 = self.width if x1 is None else x1
        y1 = self.height if y1 is None else y1
        right, down, fwd = self.axes()
        f = self.focal_px
        us = (np.arange(x0, x1, dtype=np.float64) + 0.5 - self.width / 2.0) / f
        vs = (np.arange(y0, y1, dtype=np.float64) + 0.5 - self.height / 2.0) / f
        uu, vv = np.meshgrid(us, vs)
        return fwd + uu[..., None] * right + vv[..., None] * down

    def sees(self, point: tuple[float, float, float], margin_px: float = 0.0) -> bool:
        """Whether a world point projects inside the image (with a margin) in front of the camera."""
        uv, depth = self.project(np.array([point], dtype=np.float64))
        u, v = float(uv[0, 0]), float(uv[0, 1])
        inside_u = margin_px <= u < self.width - margin_px
        inside_v = margin_px <= v < self.height - margin_px
        return bool(depth[0] > NEAR_M) and inside_u and inside_v


def floor_to_image(camera: Camera, xy: F64) -> F64:
    """Floor points (N, 2) at z = 0 -> pixel coordinates (N, 2)."""
    pts = np.column_stack([xy, np.zeros(len(xy))])
    uv, _ = camera.project(pts)
    return uv
