"""The static room as the camera sees it, ray-cast once per scene: colour, depth and lamp light.

Each pixel's ray is followed to the first wall, floor, ceiling or furniture box it meets. The
result is an albedo image (what the room looks like under even light), a depth map for
occluding people (infinite where nothing can hide them: the floor and open doorways), a floor
mask for shadows, and how much of the lamp's light each pixel receives (distance and angle).
Lighting is applied per frame by the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.video.furniture import Box, boxes
from sim.video.geometry import F64, NEAR_M, Camera, heading_vector, right_vector
from sim.video.scene import Color, Room, Scene
from sim.video.world import DOOR_HEIGHT_M

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
BoolA = npt.NDArray[np.bool_]
FLOOR, CEILING, LEFT, RIGHT, FRONT, BACK = range(6)
KEY_LIGHT = np.array([0.35, -0.55, 0.76])  # fixed direction for face shading of furniture


@dataclass(frozen=True, slots=True)
class Background:
    """The static room seen from the camera."""

    albedo: U8
    depth: F32
    floor: BoolA
    lamp: F32
    vignette: F32


def _room_hits(cam: Camera, room: Room, rays: F64) -> tuple[F64, npt.NDArray[np.int64], F64]:
    """Distance (in camera depth units), surface id and hit point of every ray with the room box."""
    c = np.asarray(cam.position)
    w, d = room.size
    bounds = ((0.0, w), (0.0, d), (0.0, room.ceiling_m))
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = []
        for axis, (lo, hi) in enumerate(bounds):
            comp = rays[..., axis]
            t = np.where(comp > 0, (hi - c[axis]) / comp, (lo - c[axis]) / comp)
            ts.append(np.where(np.abs(comp) < 1e-12, np.inf, t))
    stack = np.stack(ts, axis=-1)
    axis_hit = np.argmin(stack, axis=-1)
    t = np.min(stack, axis=-1)
    points = c + rays * t[..., None]
    positive = np.take_along_axis(rays, axis_hit[..., None], axis=-1)[..., 0] > 0
    surface = np.select(
        [axis_hit == 2, axis_hit == 0, axis_hit == 1],
        [
            np.where(positive, CEILING, FLOOR),
            np.where(positive, RIGHT, LEFT),
            np.where(positive, BACK, FRONT),
        ],
    )
    return t, surface, points


def _floor_colour(room: Room, points: F64, rng: np.random.Generator) -> F64:
    """Floor albedo with its pattern (planks, tiles or plain), and the rug."""
    x, y = points[..., 0], points[..., 1]
    base = np.asarray(room.floor, dtype=np.float64)
    table = rng.uniform(0.88, 1.12, size=4096)
    if room.floor_pattern == "planks":
        plank = np.floor(x / 0.14).astype(np.int64)
        joint = np.floor((y + (plank % 5) * 0.37) / 1.3).astype(np.int64)
        k = table[(plank * 31 + joint * 7) % 4096] * (1.0 + 0.04 * np.sin(y * 23.0 + plank * 1.7))
        k = np.where((x / 0.14) % 1.0 < 0.05, 0.72, k)
    elif room.floor_pattern == "tiles":
        i, j = np.floor(x / 0.4).astype(np.int64), np.floor(y / 0.4).astype(np.int64)
        k = table[(i * 17 + j * 131) % 4096]
        grout = ((x / 0.4) % 1.0 < 0.05) | ((y / 0.4) % 1.0 < 0.05)
        k = np.where(grout, 1.25, 0.5 + 0.5 * k)
    else:
        k = 1.0 + 0.03 * np.sin(x * 2.1 + 0.5) * np.sin(y * 1.7 + 1.3)
    colour = base * k[..., None]
    if room.rug is not None:
        (rx, ry), (rw, rd) = room.rug.at, room.rug.size
        on_rug = (np.abs(x - rx) < rw / 2) & (np.abs(y - ry) < rd / 2)
        weave = 1.0 + 0.03 * np.sin(x * 60.0) * np.sin(y * 60.0)
        rug = np.asarray(room.rug.color, dtype=np.float64) * weave[..., None]
        colour = np.where(on_rug[..., None], rug, colour)
    out: F64 = colour
    return out


def _wall_colour(room: Room, points: F64, surface: npt.NDArray[np.int64]) -> tuple[F64, BoolA]:
    """Wall albedo (skirting, window, doors) and where the doorways are open."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    colour = np.asarray(room.wall, dtype=np.float64) * (1.0 - 0.05 * z / room.ceiling_m)[..., None]
    colour = np.where((z < 0.09)[..., None], colour * 0.7, colour)
    along = np.where(surface == BACK, x, y)
    doorway = np.zeros(z.shape, dtype=bool)
    for door in room.doors:
        wall_id = {"left": LEFT, "right": RIGHT, "back": BACK}[door.wall]
        doorway |= (surface == wall_id) & (np.abs(along - door.at) < door.width / 2) & (z < DOOR_HEIGHT_M)
    if room.window:
        wx = room.size[0] * 0.62
        window = (surface == BACK) & (np.abs(x - wx) < 0.6) & (z > 1.0) & (z < 2.1)
        frame = window & ((np.abs(x - wx) > 0.55) | (z < 1.05) | (z > 2.05) | (np.abs(x - wx) < 0.03))
        colour = np.where(window[..., None], np.array([235.0, 228.0, 215.0]), colour)
        colour = np.where(frame[..., None], np.array([250.0, 250.0, 250.0]), colour)
    colour = np.where(doorway[..., None], np.asarray(room.wall, dtype=np.float64) * 0.3, colour)
    return colour, doorway


def _box_window(cam: Camera, box: Box) -> tuple[int, int, int, int]:
    """The pixel window a box can cover (the whole image if it reaches behind the camera)."""
    f, r = heading_vector(box.heading), right_vector(box.heading)
    corners = [
        np.array([box.cx, box.cy, z]) + sl * box.half_lat * r + sf * box.half_front * f
        for sl in (-1, 1)
        for sf in (-1, 1)
        for z in (box.z0, box.z1)
    ]
    uv, depth = cam.project(np.array(corners))
    if np.any(depth <= NEAR_M):
        return 0, 0, cam.width, cam.height
    x0, y0 = np.floor(uv.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(uv.max(axis=0)).astype(int) + 2
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), cam.width), min(int(y1), cam.height)


def _hit_box(cam: Camera, box: Box, rays: F64) -> tuple[F64, F64]:
    """Ray distance to a box (inf where missed) and the shading factor of the face hit."""
    f, r = heading_vector(box.heading), right_vector(box.heading)
    z = np.array([0.0, 0.0, 1.0])
    o = np.asarray(cam.position) - np.array([box.cx, box.cy, 0.0])
    axes = (r, f, z)
    bounds = ((-box.half_lat, box.half_lat), (-box.half_front, box.half_front), (box.z0, box.z1))
    near, far, face_axis = np.full(rays.shape[:-1], -np.inf), np.full(rays.shape[:-1], np.inf), None
    with np.errstate(divide="ignore", invalid="ignore"):
        entries = []
        for axis, (lo, hi) in zip(axes, bounds, strict=True):
            comp = rays @ axis
            comp = np.where(np.abs(comp) < 1e-12, 1e-12, comp)
            t1, t2 = (lo - o @ axis) / comp, (hi - o @ axis) / comp
            entries.append(np.minimum(t1, t2))
            far = np.minimum(far, np.maximum(t1, t2))
        stack = np.stack(entries, axis=-1)
        near = stack.max(axis=-1)
        face_axis = stack.argmax(axis=-1)
    hit = (near <= far) & (near > 0)
    normals = np.stack([np.stack([a, -a]) for a in axes])  # (3 axes, 2 signs, 3)
    sign = (
        np.take_along_axis(np.stack([rays @ a for a in axes], axis=-1), face_axis[..., None], -1)[..., 0] > 0
    )
    n = normals[face_axis, sign.astype(np.int64)]
    shade = 0.72 + 0.28 * np.clip(n @ KEY_LIGHT, 0.0, 1.0)
    return np.where(hit, near, np.inf), shade


def _lamp_light(scene: Scene, points: F64) -> F64:
    """Relative lamp illumination at surface points: inverse-square-like falloff, 0.25..1."""
    dist2 = np.sum((points - np.asarray(lamp_position(scene))) ** 2, axis=-1)
    light: F64 = 0.25 + 0.75 / (1.0 + dist2 / 6.0)
    return light


def render_background(scene: Scene, cam: Camera) -> Background:
    """Ray-cast the room and its furniture once."""
    rng = np.random.default_rng([scene.seed, 0xB6])
    rays = cam.rays()
    t, surface, points = _room_hits(cam, scene.room, rays)
    walls, doorway = _wall_colour(scene.room, points, surface)
    colour = np.where((surface == FLOOR)[..., None], _floor_colour(scene.room, points, rng), walls)
    colour = np.where((surface == CEILING)[..., None], np.array([236.0, 238.0, 238.0]), colour)
    depth = np.where((surface == FLOOR) | doorway, np.inf, t)
    nearest = t.copy()
    floor = surface == FLOOR
    for item in scene.room.furniture:
        for box in boxes(item):
            x0, y0, x1, y1 = _box_window(cam, box)
            if x0 >= x1 or y0 >= y1:
                continue
            dist, shade = _hit_box(cam, box, rays[y0:y1, x0:x1])
            closer = dist < nearest[y0:y1, x0:x1]
            nearest[y0:y1, x0:x1] = np.where(closer, dist, nearest[y0:y1, x0:x1])
            depth[y0:y1, x0:x1] = np.where(closer, dist, depth[y0:y1, x0:x1])
            floor[y0:y1, x0:x1] &= ~closer
            tint = np.asarray(box.color, dtype=np.float64) * shade[..., None]
            colour[y0:y1, x0:x1] = np.where(closer[..., None], tint, colour[y0:y1, x0:x1])
    hit_points = np.asarray(cam.position) + rays * nearest[..., None]
    lamp = _lamp_light(scene, hit_points)
    uu, vv = np.meshgrid(np.linspace(-1.0, 1.0, cam.width), np.linspace(-1.0, 1.0, cam.height))
    vignette = 1.0 - 0.22 * (uu**2 + vv**2) / 2.0
    return Background(
        albedo=np.clip(colour, 0, 255).astype(np.uint8),
        depth=depth.astype(np.float32),
        floor=floor,
        lamp=lamp.astype(np.float32),
        vignette=vignette.astype(np.float32),
    )


def lamp_position(scene: Scene) -> tuple[float, float, float]:
    """Where the lamp hangs."""
    w, d = scene.room.size
    return scene.lighting.lamp_position or (w / 2, d / 2, scene.room.ceiling_m - 0.15)


def shade_colour(c: Color, k: float) -> tuple[float, float, float]:
    """A colour scaled by `k` (for drawing)."""
    return (c[0] * k, c[1] * k, c[2] * k)
