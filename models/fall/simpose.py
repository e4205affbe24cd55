"""Ground-truth 2-D keypoints (COCO-17) of the simulator's people, without rendering pixels.

Each scene comes from ``sim.video.generate.random_scene(seed, kind)`` (seeds below 10000 train,
10000 and above are held out). Per person and frame at 10 fps the body's capsules
(``sim.video.body.capsules``) give the joints: shoulders, elbows, wrists, hips, knees, ankles are
capsule ends, the nose/eyes/ears the head centre. They are projected with the scene's camera
(``Camera.project``) at 320 x 240; a joint is hidden when it is out of frame, behind the camera, or
behind furniture (z-test against the ray-cast room's depth map, the renderer's own occlusion rule).
The motion blob is the box of the projected body. Ground-truth falls and lie-downs come with the
scene (``Renderer.events``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.vision.pose_features import BlobBox
from sim.video.body import Dims, capsules

SIZE = (320, 240)
FPS = 10.0
HELD_OUT_FROM = 10000
# COCO index -> (capsule index, end)
COCO_FROM_CAPSULE: dict[int, tuple[int, str]] = {
    0: (5, "a"), 1: (5, "a"), 2: (5, "a"), 3: (5, "a"), 4: (5, "a"),
    5: (12, "a"), 6: (15, "a"), 7: (12, "b"), 8: (15, "b"), 9: (13, "b"), 10: (16, "b"),
    11: (6, "a"), 12: (9, "a"), 13: (6, "b"), 14: (9, "b"), 15: (7, "b"), 16: (10, "b"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Truth:
    """A ground-truth fall or intentional lie-down."""

    person: str
    type: str  # "fall" or "lie_down"
    kind: str
    start_t: float
    impact_t: float


@dataclass(frozen=True, slots=True)
class Track:
    """One simulated person's joints per frame."""

    person: str
    stature_m: float
    times: npt.NDArray[np.float64]  # [T]
    xy: npt.NDArray[np.float32]  # [T, 17, 2] pixels
    seen: npt.NDArray[np.bool_]  # [T, 17] in frame and not behind furniture
    present: npt.NDArray[np.bool_]  # [T] the person is in view at all
    lying: npt.NDArray[np.float32]  # [T] 0 upright .. 1 flat (torso tilt / 90 deg)
    blobs: list[BlobBox | None]


@dataclass(frozen=True, slots=True)
class SimScene:
    """A simulated scene's people and ground truth."""

    seed: int
    kind: str
    duration_s: float
    tracks: tuple[Track, ...]
    events: tuple[Truth, ...]


def _track(render: Any, person: Any, duration: float) -> Track:
    cam = render.camera
    depth_map = render.background.depth
    times = np.arange(0.0, duration, 1.0 / FPS)
    xy = np.zeros((len(times), 17, 2), np.float32)
    seen = np.zeros((len(times), 17), bool)
    present = np.zeros(len(times), bool)
    lying = np.zeros(len(times), np.float32)
    blobs: list[BlobBox | None] = []
    dims: Dims = person.dims
    for i, t in enumerate(times):
        moment = person.timeline.at(float(t))
        state = moment.state
        parts, _ = capsules(state, dims)
        ends = np.array(
            [(c.a if e == "a" else c.b) for c, e in ((parts[k], e) for k, e in COCO_FROM_CAPSULE.values())]
        )
        uv, depth = cam.project(ends.astype(np.float64))
        xy[i] = uv
        inside = (
            (depth > 0.2)
            & (uv[:, 0] >= 0)
            & (uv[:, 0] < cam.width)
            & (uv[:, 1] >= 0)
            & (uv[:, 1] < cam.height)
        )
        px = np.clip(uv.astype(int), 0, [cam.width - 1, cam.height - 1])
        room = depth_map[px[:, 1], px[:, 0]]
        seen[i] = inside & (depth < room + 0.05) & state.visible
        p, q = state.pose.pitch, state.pose.roll
        lying[i] = float(np.degrees(np.arccos(np.clip(np.cos(p) * np.cos(q), -1, 1))) / 90.0)
        present[i] = bool(state.visible and seen[i].sum() >= 3)
        all_ends = np.array([pt for c in parts for pt in (c.a, c.b)], np.float64)
        auv, adepth = cam.project(all_ends)
        if present[i] and (adepth > 0.2).all():
            x0, y0 = np.clip(auv.min(axis=0), 0, [cam.width, cam.height])
            x1, y1 = np.clip(auv.max(axis=0), 0, [cam.width, cam.height])
            blobs.append(
                BlobBox(float(x0), float(y0), float(x1 - x0), float(y1 - y0)) if x1 > x0 and y1 > y0 else None
            )
        else:
            blobs.append(None)
    return Track(person.spec.id, dims.h, times, xy, seen, present, lying, blobs)


def simulate(seed: int, kind: str) -> SimScene:
    """The people's ground-truth joints in scene ``random_scene(seed, kind)`` at 320 x 240, 10 fps."""
    from sim.video.generate import random_scene
    from sim.video.render import Renderer

    scene = random_scene(seed, kind)
    scene = dataclasses.replace(scene, camera=dataclasses.replace(scene.camera, resolution=SIZE, fps=FPS))
    render = Renderer(scene)
    duration = float(render.duration_s)
    tracks = tuple(_track(render, p, duration) for p in render.people)
    events = tuple(Truth(e.person, e.type, e.kind, e.start_t, e.impact_t) for e in render.events)
    return SimScene(seed, kind, duration, tracks, events)
