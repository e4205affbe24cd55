"""Ground truth per frame and per scene, and its JSON file next to a rendered video.

Per person and frame: the box of the pixels actually visible (after furniture and other people
hide some), the box of the whole body, the visible fraction, the activity label, whether the
person is lying (trunk more than 55 degrees from vertical), lying on the floor, on which
furniture, falling (loss of balance to impact) or fallen (impact until getting up). Per scene:
the fall and intentional lie-down events (`sim.video.script.TruthEvent`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.video.body import trunk_tilt
from sim.video.geometry import Camera
from sim.video.motion import Moment
from sim.video.scene import PersonSpec, Scene
from sim.video.script import TruthEvent

SCHEMA_VERSION = 1
LYING_TILT_RAD = math.radians(55.0)
FLOOR_SUPPORT_M = 0.05
LYING_PELVIS_OF_HEIGHT = 0.25
Box = tuple[int, int, int, int]
Visibility = tuple[Box, npt.NDArray[np.uint8], npt.NDArray[np.bool_]]
"""(window, whole-body alpha mask, visible pixels) of one person in one frame."""


@dataclass(frozen=True, slots=True)
class PersonTruth:
    """One person in one frame. Boxes are [x0, y0, x1, y1) in pixels; None when nothing shows."""

    id: str
    visible: bool
    bbox: Box | None
    bbox_full: Box | None
    visible_fraction: float
    activity: str
    lying: bool
    on_floor: bool
    on_furniture: str | None
    falling: bool
    fallen: bool
    head_z: float
    pelvis: tuple[float, float, float]
    standing_height_px: float
    """Image height this person would have standing upright at the same floor point."""


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """All people in one frame."""

    index: int
    t: float
    people: tuple[PersonTruth, ...]


def _box(mask: npt.NDArray[np.bool_], x0: int, y0: int) -> Box | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + 1 + x0, int(ys.max()) + 1 + y0)


def _standing_px(cam: Camera, x: float, y: float, height: float) -> float:
    uv, depth = cam.project(np.array([[x, y, 0.0], [x, y, height]]))
    return float(abs(uv[0, 1] - uv[1, 1])) if bool(np.all(depth > 0.2)) else 0.0


def _fall_state(events: Sequence[TruthEvent], person: str, t: float) -> tuple[bool, bool]:
    falling = fallen = False
    for ev in events:
        if ev.person != person or ev.type != "fall":
            continue
        falling |= ev.start_t <= t < ev.impact_t
        fallen |= ev.impact_t <= t and (ev.end_t is None or t < ev.end_t)
    return falling, fallen


@dataclass(frozen=True, slots=True)
class FrameContext:
    """What every person's truth in one frame shares: the camera, the scene's events, the time."""

    camera: Camera
    events: tuple[TruthEvent, ...]
    t: float


def person_truth(
    spec: PersonSpec, moment: Moment, pelvis_z: float, vis: Visibility | None, ctx: FrameContext
) -> PersonTruth:
    """The ground truth of one person from their body state and their drawn pixels."""
    state = moment.state
    support = state.support
    base = support.surface_z if support.seat < 0.5 else support.seat_z
    # trunk near horizontal AND pelvis down on its support: bending over is neither
    lying = (
        trunk_tilt(state.pose) > LYING_TILT_RAD and pelvis_z - base < LYING_PELVIS_OF_HEIGHT * spec.height_m
    )
    on_surface = support.surface_z > FLOOR_SUPPORT_M or support.seat > 0.5
    falling, fallen = _fall_state(ctx.events, spec.id, ctx.t)
    bbox = bbox_full = None
    fraction = 0.0
    if vis is not None:
        (x0, y0, _, _), full, visible = vis
        body = full > 127
        bbox_full, bbox = _box(body, x0, y0), _box(visible, x0, y0)
        fraction = float(visible.sum()) / max(int(body.sum()), 1)
    head = pelvis_z + 0.405 * spec.height_m * math.cos(trunk_tilt(state.pose))
    return PersonTruth(
        id=spec.id,
        visible=bbox is not None,
        bbox=bbox,
        bbox_full=bbox_full,
        visible_fraction=round(min(fraction, 1.0), 4),
        activity=moment.label if state.visible else "absent",
        lying=lying and state.visible,
        on_floor=lying and not on_surface and moment.on is None and state.visible,
        on_furniture=moment.on,
        falling=falling,
        fallen=fallen,
        head_z=round(head, 3),
        pelvis=(round(state.x, 3), round(state.y, 3), round(pelvis_z, 3)),
        standing_height_px=round(_standing_px(ctx.camera, state.x, state.y, spec.height_m), 1),
    )


def event_json(ev: TruthEvent) -> dict[str, Any]:
    """One event as written to the ground-truth file."""
    return {
        "person": ev.person,
        "type": ev.type,
        "kind": ev.kind,
        "start_t": round(ev.start_t, 3),
        "impact_t": round(ev.impact_t, 3),
        "end_t": None if ev.end_t is None else round(ev.end_t, 3),
        "intentional": ev.intentional,
        "on_furniture": ev.on_furniture,
        "furniture_type": ev.furniture_type,
    }


def scene_truth(
    scene: Scene, fps: float, duration_s: float, events: Iterable[TruthEvent], frames: Iterable[FrameTruth]
) -> dict[str, Any]:
    """The whole ground-truth document of a rendered scene."""
    cam = scene.camera
    return {
        "schema_version": SCHEMA_VERSION,
        "scene": scene.name,
        "seed": scene.seed,
        "fps": fps,
        "duration_s": round(duration_s, 3),
        "resolution": list(cam.resolution),
        "camera": {
            "position": list(cam.position),
            "height_m": cam.height_m,
            "tilt_deg": cam.tilt_deg,
            "pan_deg": cam.pan_deg,
            "hfov_deg": cam.hfov_deg,
        },
        "people": [{"id": p.id, "height_m": p.height_m, "girth": p.girth} for p in scene.people],
        "events": [event_json(e) for e in events],
        "frames": [
            {"index": f.index, "t": round(f.t, 4), "people": [asdict(p) for p in f.people]} for f in frames
        ],
    }


def write_truth(path: Path, document: dict[str, Any]) -> None:
    """Write a ground-truth document as compact JSON (one frame per line for diffs and grep)."""
    frames = document.get("frames", [])
    head = {k: v for k, v in document.items() if k != "frames"}
    lines = [json.dumps(f, separators=(",", ":")) for f in frames]
    body = json.dumps(head, indent=1)[:-2] + ',\n "frames": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    path.write_text(body, encoding="utf-8")


def truth_path(video: Path) -> Path:
    """Where the ground truth of a video file goes: same name, .json."""
    return video.with_suffix(".json")
