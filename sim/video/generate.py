"""Random scenes for training and held-out evaluation: `random_scene(seed, kind)`.

Everything varies with the seed: room size, colours and floor pattern, furniture and its place,
camera position, height (2.0-3.4 m looking down, or a quarter at 0.8-1.3 m looking nearly level),
tilt, field of view, frame rate and noise, lighting (steady, dimming, a lamp switched off or on,
dark), one or two people of 1.2-2.0 m with any girth, speed and clothing (a quarter of them in low
contrast to their surroundings), and a script of everyday activities. A "fall" scene has one fall
of a random kind inside the view, landing on free floor, after which the person stays down or gets
up; an "adl" scene has none, but often a lie-down on purpose -- on a bed or sofa, or on the floor
-- at a pace from easing down to dropping. Seeds below HELD_OUT_FROM are for training; from it
on, for held-out scoring.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field, replace

import numpy as np

from sim.keyframes import Keyframes
from sim.video.casting import Actor
from sim.video.furniture import inside
from sim.video.geometry import Camera, heading_vector
from sim.video.loader import check_scene
from sim.video.scene import (
    FALL_KINDS,
    CameraSpec,
    Color,
    Door,
    Furniture,
    Lighting,
    PersonSpec,
    Room,
    Rug,
    Scene,
    Step,
)
from sim.video.world import door_centre, free

HELD_OUT_FROM = 10_000
KINDS = ("fall", "adl")
LEVEL_CAMERAS = 0.25  # share of cameras at 0.8-1.3 m looking nearly level; the rest hang at 2-3.4 m
SKIN: tuple[Color, ...] = ((150, 180, 225), (120, 150, 200), (90, 120, 170), (60, 85, 125), (45, 60, 95))
HAIR: tuple[Color, ...] = ((30, 35, 40), (40, 60, 90), (70, 110, 150), (200, 200, 200), (60, 60, 60))


def split(seed: int) -> str:
    """ "train" or "held_out": the split a seed belongs to."""
    return "held_out" if seed >= HELD_OUT_FROM else "train"


def _colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> Color:
    r, g, b = colorsys.hsv_to_rgb(float(rng.uniform()), float(rng.uniform(*sat)), float(rng.uniform(*val)))
    return (int(b * 255), int(g * 255), int(r * 255))


def _near(rng: np.random.Generator, c: Color, spread: int) -> Color:
    b, g, r = (int(np.clip(v + rng.integers(-spread, spread + 1), 0, 255)) for v in c)
    return (b, g, r)


@dataclass(slots=True)
class _Plan:
    """A scene under construction."""

    rng: np.random.Generator
    room: Room
    camera: Camera
    furniture: list[Furniture] = field(default_factory=list)

    def visible(self, x: float, y: float, height: float = 1.7) -> bool:
        """Whether a standing person at (x, y) is fully in view."""
        return self.camera.sees((x, y, 0.0), 12.0) and self.camera.sees((x, y, height), 12.0)

    def spot(self, height: float, margin: float = 0.4) -> tuple[float, float] | None:
        """A free floor point where a standing person is in view."""
        w, d = self.room.size
        for _ in range(200):
            x, y = float(self.rng.uniform(margin, w - margin)), float(self.rng.uniform(margin, d - margin))
            if free(self.room, x, y, 0.35) and self.visible(x, y, height):
                return x, y
        return None


def _room(rng: np.random.Generator) -> Room:
    w, d = float(rng.uniform(3.5, 7.0)), float(rng.uniform(4.0, 8.0))
    doors = tuple(
        Door(wall, float(rng.uniform(0.8, (w if wall == "back" else d) - 0.8)))
        for wall in rng.choice(["left", "right", "back"], size=int(rng.integers(1, 3)), replace=False)
    )
    floor = _colour(rng, (0.05, 0.5), (0.3, 0.8))
    rug = None
    if rng.uniform() < 0.4:
        rug = Rug(
            (float(rng.uniform(1.5, w - 1.5)), float(rng.uniform(2.0, d - 1.5))),
            (1.6, 1.2),
            _colour(rng, (0.2, 0.8), (0.2, 0.7)),
        )
    return Room(
        size=(w, d),
        ceiling_m=float(rng.uniform(2.5, 3.3)),
        floor=floor,
        floor_pattern=str(rng.choice(["plain", "planks", "tiles"])),
        wall=_colour(rng, (0.0, 0.25), (0.65, 0.95)),
        window=bool(rng.uniform() < 0.6),
        rug=rug,
        doors=doors,
    )


def _camera(rng: np.random.Generator, room: Room) -> CameraSpec:
    w, d = room.size
    corner = rng.uniform() < 0.4
    x = float(rng.choice([0.1, w - 0.1])) if corner else float(rng.uniform(0.25, 0.75) * w)
    y = 0.1 if corner else 0.05
    target = (w / 2 + float(rng.uniform(-0.5, 0.5)), d * float(rng.uniform(0.45, 0.65)))
    height = float(rng.uniform(2.0, min(3.4, room.ceiling_m - 0.1)))
    dist = math.dist((x, y), target)
    tilt = float(
        np.clip(math.degrees(math.atan2(height - 0.6, dist)) + float(rng.uniform(-4.0, 10.0)), 12, 70)
    )
    if rng.uniform() < LEVEL_CAMERAS:  # on a shelf or tripod, looking across the room
        height, tilt = float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.0, 10.0))
    return CameraSpec(
        position=(x, y),
        height_m=height,
        tilt_deg=tilt,
        pan_deg=math.degrees(math.atan2(target[1] - y, target[0] - x)),
        hfov_deg=float(rng.uniform(60.0, 95.0)),
        fps=float(rng.choice([15.0, 20.0, 25.0])),
        noise=float(rng.uniform(1.0, 6.0)),
    )


def _place(plan: _Plan, kind: str, item_id: str, size: tuple[float, float], against_wall: bool) -> None:
    """Place one piece of furniture clear of the others, of the doors and of the camera."""
    rng, (w, d) = plan.rng, plan.room.size
    for _ in range(60):
        if against_wall:
            wall = str(rng.choice(["back", "left", "right"]))
            heading = {"back": -90.0, "left": 0.0, "right": 180.0}[wall]
            f = heading_vector(math.radians(heading))
            along = float(rng.uniform(size[0] / 2 + 0.2, (w if wall == "back" else d) - size[0] / 2 - 0.2))
            base = {"back": (along, d), "left": (0.0, along), "right": (w, along)}[wall]
            at = (base[0] + f[0] * (size[1] / 2 + 0.03), base[1] + f[1] * (size[1] / 2 + 0.03))
        else:
            heading = float(rng.uniform(-180, 180))
            at = (float(rng.uniform(0.8, w - 0.8)), float(rng.uniform(1.5, d - 0.8)))
        item = Furniture(item_id, kind, at, size, heading, _colour(rng, (0.1, 0.6), (0.15, 0.6)))
        if _fits(plan, item):
            plan.furniture.append(item)
            plan.room = replace(plan.room, furniture=tuple(plan.furniture))
            return


def _fits(plan: _Plan, item: Furniture) -> bool:
    w, d = plan.room.size
    r = math.hypot(*item.size) / 2
    if not (r * 0.6 <= item.at[0] <= w - r * 0.6 and r * 0.6 <= item.at[1] <= d - r * 0.6):
        return False
    if any(math.dist(item.at, o.at) < 0.9 * (r + math.hypot(*o.size) / 2) + 0.5 for o in plan.furniture):
        return False
    for door in plan.room.doors:
        (cx, cy), (nx, ny) = door_centre(plan.room, door)
        if inside(item, cx + 0.6 * nx, cy + 0.6 * ny, 0.6):
            return False
    cam = plan.camera.position
    return math.dist(item.at, cam[:2]) > r + 1.0


def _furnish(plan: _Plan, kind: str) -> None:
    rng = plan.rng
    if rng.uniform() < 0.6:
        _place(plan, "sofa", "sofa", (float(rng.uniform(1.6, 2.2)), 0.9), True)
    if rng.uniform() < (0.6 if kind == "adl" else 0.35):
        _place(plan, "bed", "bed", (float(rng.uniform(0.9, 1.6)), 2.05), True)
    for i in range(int(rng.integers(1, 3))):
        _place(plan, "chair", f"chair{i + 1}", (0.5, 0.5), bool(rng.uniform() < 0.5))
    if rng.uniform() < 0.5:
        _place(plan, "table", "table", (float(rng.uniform(0.8, 1.6)), float(rng.uniform(0.6, 0.9))), False)


def _lighting(rng: np.random.Generator, room: Room) -> Lighting:
    w, d = room.size
    mode = str(rng.choice(["steady", "steady", "dimming", "switch", "dark"]))
    ambient, lamp = float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.3, 0.7))
    t_switch = float(rng.uniform(3.0, 20.0))
    levels = {
        "steady": (Keyframes.constant(ambient), Keyframes.constant(lamp)),
        "dimming": (Keyframes(((0.0, ambient), (40.0, ambient * 0.4))), Keyframes.constant(lamp * 0.5)),
        "switch": (
            Keyframes.constant(ambient),
            Keyframes(((t_switch, lamp), (t_switch + 0.1, 0.0)))
            if rng.uniform() < 0.5
            else Keyframes(((t_switch, 0.0), (t_switch + 0.1, lamp))),
        ),
        "dark": (Keyframes.constant(0.25), Keyframes.constant(0.2)),
    }
    amb, lmp = levels[mode]
    pos = (float(rng.uniform(0.5, w - 0.5)), float(rng.uniform(1.0, d - 0.5)), room.ceiling_m - 0.1)
    return Lighting(ambient=amb, lamp=lmp, lamp_position=pos, shadow=float(rng.uniform(0.2, 0.6)))


def _clothes(rng: np.random.Generator, room: Room) -> dict[str, Color]:
    if rng.uniform() < 0.25:  # low contrast: clothing close to the floor and wall colours
        return {
            "top": _near(rng, room.wall if rng.uniform() < 0.5 else room.floor, 18),
            "bottom": _near(rng, room.floor, 18),
        }
    return {"top": _colour(rng, (0.0, 0.9), (0.1, 0.95)), "bottom": _colour(rng, (0.0, 0.6), (0.1, 0.7))}


def _person(
    plan: _Plan, pid: str, start: tuple[float, float], height: float, steps: list[Step]
) -> PersonSpec:
    rng = plan.rng
    return PersonSpec(
        id=pid,
        start=start,
        heading_deg=float(rng.uniform(-180, 180)),
        height_m=height,
        girth=float(rng.uniform(0.8, 1.4)),
        speed=float(rng.uniform(0.4, 1.5)),
        skin=SKIN[int(rng.integers(len(SKIN)))],
        hair=HAIR[int(rng.integers(len(HAIR)))],
        shoes=_colour(rng, (0.0, 0.5), (0.05, 0.5)),
        script=tuple(steps),
        **_clothes(rng, plan.room),
    )


def _actor(plan: _Plan, pid: str) -> tuple[Actor, tuple[float, float]] | None:
    height = float(plan.rng.uniform(1.2, 2.0))
    start = plan.spot(height)
    if start is None:
        return None
    return Actor(plan, height, start), start


def _people(plan: _Plan, kind: str) -> list[PersonSpec] | None:
    rng = plan.rng
    cast = _actor(plan, "p1")
    if cast is None:
        return None
    actor, start = cast
    if kind == "fall":
        actor.everyday(int(rng.integers(0, 3)), lie_bias=0.15)
        if not actor.present or not actor.fall(str(rng.choice(FALL_KINDS))):
            return None
        actor.after_fall()
    else:
        actor.everyday(int(rng.integers(2, 6)), lie_bias=0.45)
    people = [_person(plan, "p1", start, actor.height, actor.steps)]
    if rng.uniform() < 0.25:
        second = _actor(plan, "p2")
        if second is not None:
            other, start2 = second
            other.everyday(int(rng.integers(2, 5)), lie_bias=0.1)
            people.append(_person(plan, "p2", start2, other.height, other.steps))
    return people


def random_scene(seed: int, kind: str = "fall") -> Scene:
    """A varied, valid scene drawn from `seed`: "fall" has exactly one fall, "adl" has none.

    Deterministic: the same seed and kind always give the same scene. Use `split(seed)` (or seeds
    below / from HELD_OUT_FROM) to keep training and held-out scenes apart.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = np.random.default_rng([seed, KINDS.index(kind), 0x5CE7E])
    for _ in range(50):
        room = _room(rng)
        spec = _camera(rng, room)
        plan = _Plan(rng, room, spec.camera())
        _furnish(plan, kind)
        people = _people(plan, kind)
        if not people:
            continue
        scene = Scene(
            name=f"random_{kind}_{seed}",
            seed=seed,
            camera=spec,
            room=plan.room,
            lighting=_lighting(rng, plan.room),
            people=tuple(people),
            description=f"generated {kind} scene, seed {seed} ({split(seed)})",
        )
        check_scene(scene)
        return scene
    raise RuntimeError(f"no valid {kind} scene found for seed {seed}")  # pragma: no cover - never seen
