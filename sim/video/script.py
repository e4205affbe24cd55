"""Compile a person's script of activities into a timeline of motions and ground-truth events.

The compiler walks the script keeping the person's posture (standing, sitting, lying on
furniture, on the floor, absent) and inserts the transitions a step needs: a walk to a chair
before sitting, standing up before walking on, getting up from a bed. Transition durations vary
a little per person and scene seed. Falls and intentional lie-downs become `TruthEvent`s with
their start and impact (end of motion) times.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.video.body import FLOOR, BodyState, Dims, Pose
from sim.video.furniture import lie_spot, seat_spot
from sim.video.geometry import wrap_angle
from sim.video.motion import Gait, Key, KeySegment, Segment, Timeline, WalkSegment, hold
from sim.video.poses import (
    BEND,
    CROUCH,
    FALLS,
    GET_UP,
    LIE_BACK,
    LIE_FLOOR,
    SIT,
    STAND,
    Phase,
    keys,
    resting_on,
    seated,
    settle,
    sit_down,
    slide_phases,
    stand_up,
)
from sim.video.scene import Furniture, PersonSpec, Scene, Step
from sim.video.world import door_points

FOREVER_S = 1.0e6
TURN_RAD_PER_S = 2.5
FALL_SECONDS = {"forward": 1.0, "backward": 1.0, "sideways": 0.9, "slide": 1.4, "collapse": 3.2}
# People lie down (and sit down) at their own pace: from dropping onto a bed to easing down slowly.
# The fast end overlaps the slower falls on purpose; those are the negatives that teach the model.
LIE_PACE = (0.5, 1.8)
SIT_PACE = (0.5, 1.4)
LIE_FLOOR_SECONDS = (1.5, 5.0)
SETTLE_S = 0.35


class ScriptError(ValueError):
    """A script that cannot be played (sitting on a missing chair, walking while absent, ...)."""


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """A fall, or an intentional lie-down on a bed, a sofa or the floor, with its timing."""

    person: str
    type: str
    """"fall" or "lie_down"."""
    kind: str
    """Fall kind (FALL_KINDS), or the furniture type lain on ("floor" for the floor)."""
    start_t: float
    impact_t: float
    """End of the fall (or lying-down) motion: the body is down from here on."""
    on_furniture: str | None = None
    furniture_type: str | None = None
    end_t: float | None = None
    """When the person started to get up again; None if they stay down to the end."""

    @property
    def intentional(self) -> bool:
        """A controlled lie-down on a bed, sofa or the floor, not a fall."""
        return self.type == "lie_down"


class _Compiler:
    """Turns one person's steps into segments; one instance per person per render."""

    def __init__(self, scene: Scene, person: PersonSpec, rng: np.random.Generator) -> None:
        self.scene, self.person, self.rng = scene, person, rng
        self.dims = Dims(person.height_m, person.girth)
        self.t = 0.0
        self.state = BodyState(person.start[0], person.start[1], math.radians(person.heading_deg), STAND)
        self.posture = "stand"
        self.on: Furniture | None = None
        self.segments: list[Segment] = []
        self.events: list[TruthEvent] = []
        self.phase = float(rng.uniform(0, 2 * math.pi))

    # --- helpers -----------------------------------------------------------------------------

    def _jitter(self, seconds: float) -> float:
        return seconds * float(self.rng.uniform(0.85, 1.15))

    def _add(self, seg: Segment) -> None:
        self.segments.append(seg)
        self.t = seg.t1
        self.state = seg.state(seg.t1)

    def _motion(self, label: str, duration: float, phases: tuple[Phase, ...], side: int = 1) -> None:
        ks = keys(self.state, (self.t, duration), phases, scale=self.person.height_m, side=side)
        self._add(KeySegment(label, tuple(ks), on=self.on.id if self.on else None))

    def _to(self, label: str, end: BodyState, duration: float) -> None:
        on = self.on.id if self.on else None
        self._add(KeySegment(label, (Key(self.t, self.state), Key(self.t + duration, end)), on=on))

    def _hold(self, label: str, seconds: float, sway: float = 0.01) -> None:
        self._add(hold(label, self.state, (self.t, seconds), self.on.id if self.on else None, sway))

    def _furniture(self, step: Step) -> Furniture:
        try:
            return self.scene.room.item(step.on or "")
        except KeyError:
            raise ScriptError(f"{self.person.id}: no furniture {step.on!r} for {step.action}") from None

    # --- posture changes ---------------------------------------------------------------------

    def ensure_standing(self) -> None:
        """Get to a standing posture from whatever the person is doing."""
        if self.posture == "absent":
            raise ScriptError(f"{self.person.id}: absent at t={self.t:.1f}; use 'enter' first")
        if self.posture == "lie":
            self._rise()
        if self.posture == "sit":
            seat = self.on
            assert seat is not None
            spot = seat_spot(seat)
            self._motion("stand_up", self._jitter(1.3), stand_up(spot.seat_z, 0.3 / self.person.height_m))
            self.posture, self.on = "stand", None
        if self.posture == "floor":
            self.get_up(Step("get_up"))

    def _rise(self) -> None:
        item = self.on
        assert item is not None
        spot = lie_spot(item, self.person.height_m)
        sit = BodyState(spot.sit.seat[0], spot.sit.seat[1], spot.sit.heading, SIT, seated(spot.sit.seat_z))
        self._to("rise", sit, self._jitter(2.0))
        self.posture = "sit"
        for i, ev in enumerate(self.events):
            if ev.type == "lie_down" and ev.end_t is None and ev.person == self.person.id:
                self.events[i] = _ended(ev, self.segments[-1].t0)

    def _walk_to(self, x: float, y: float, speed: float | None = None) -> None:
        dx, dy = x - self.state.x, y - self.state.y
        dist = math.hypot(dx, dy)
        if dist < 0.05:
            return
        self._turn_to(math.atan2(dy, dx))
        gait = Gait.for_person(self.person.height_m, speed or self.person.speed)
        seg = WalkSegment("walk", self.t, self.t + dist / gait.speed, self.state, x, y, gait, self.phase)
        self.phase += 2.0 * math.pi * dist / gait.stride
        self._add(seg)
        self.state = self.state.with_pose(STAND, FLOOR)

    def _turn_to(self, heading: float) -> None:
        turn = wrap_angle(heading - self.state.heading)
        if abs(turn) > math.radians(15):
            end = BodyState(self.state.x, self.state.y, self.state.heading + turn, STAND)
            self._to("walk", end, abs(turn) / TURN_RAD_PER_S)

    # --- steps -------------------------------------------------------------------------------

    def walk(self, step: Step) -> None:
        """Walk to a floor point."""
        self.ensure_standing()
        assert step.target is not None
        self._walk_to(*step.target, speed=step.speed)

    def stand(self, step: Step) -> None:
        """Stand still."""
        self.ensure_standing()
        self._hold("stand", step.seconds or 2.0)

    def turn(self, step: Step) -> None:
        """Turn on the spot."""
        self.ensure_standing()
        self._turn_to(math.radians(step.heading_deg or 0.0))

    def sit(self, step: Step) -> None:
        """Walk to a seat, sit down, stay seated."""
        item = self._furniture(step)
        if not (self.posture == "sit" and self.on == item):
            self.ensure_standing()
            spot = seat_spot(item, step.side)
            self._walk_to(*spot.approach)
            self._turn_to(spot.heading)
            back = math.hypot(spot.approach[0] - spot.seat[0], spot.approach[1] - spot.seat[1])
            self.on = item
            pace = self._jitter(1.5) * float(self.rng.uniform(*SIT_PACE))
            self._motion("sit_down", pace, sit_down(spot.seat_z, back / self.person.height_m))
            self.posture = "sit"
        self._hold("sitting", step.seconds or 3.0)

    def stand_up(self, step: Step) -> None:
        """Stand up from a seat (or get up from wherever the person is)."""
        self.ensure_standing()

    def lie(self, step: Step) -> None:
        """Sit on a bed or sofa, lie down on it on purpose, stay there."""
        item = self._furniture(step)
        if item.type not in ("bed", "sofa"):
            raise ScriptError(f"{self.person.id}: cannot lie on a {item.type} ({item.id})")
        start = self.t
        if not (self.posture == "sit" and self.on == item):
            self.sit(Step("sit", on=item.id, seconds=0.4, side=step.side))
            start = next(s.t0 for s in reversed(self.segments) if s.label == "sit_down")
        spot = lie_spot(item, self.person.height_m, step.side)
        lying = BodyState(spot.root[0], spot.root[1], spot.heading, LIE_BACK, resting_on(spot.surface_z))
        self._to("lie_down", lying, self._jitter(2.4) * float(self.rng.uniform(*LIE_PACE)))
        self.posture = "lie"
        self.events.append(
            TruthEvent(self.person.id, "lie_down", item.type, start, self.t, item.id, item.type)
        )
        self._hold("lying", step.seconds or 8.0, sway=0.004)

    def lie_floor(self, step: Step) -> None:
        """Kneel, sit and lie back on the floor on purpose; stay there until the next step."""
        self.ensure_standing()
        start = self.t
        self.on = None
        self._motion("lie_down", float(self.rng.uniform(*LIE_FLOOR_SECONDS)), LIE_FLOOR)
        self.posture = "floor"
        self.events.append(TruthEvent(self.person.id, "lie_down", "floor", start, self.t))
        self._hold("lying", step.seconds or 8.0, sway=0.004)

    def bend(self, step: Step) -> None:
        """Bend down to pick something up and straighten again."""
        self._down_and_up("bend", BEND, step.seconds or 1.0)

    def crouch(self, step: Step) -> None:
        """Crouch down, stay, and stand up again."""
        self._down_and_up("crouch", CROUCH, step.seconds or 3.0)

    def _down_and_up(self, label: str, pose: Pose, seconds: float) -> None:
        self.ensure_standing()
        self._motion(label, self._jitter(1.1), (Phase(1.0, pose),))
        self._hold(label, seconds, sway=0.006)
        self._motion(label, self._jitter(1.0), (Phase(1.0, STAND),))

    def leave(self, step: Step) -> None:
        """Walk out of the room (through a door or to a point) and disappear."""
        self.ensure_standing()
        if step.target is not None:
            self._walk_to(*step.target, speed=step.speed)
        else:
            inner, outer = door_points(self.scene.room, self.state.x, self.state.y)
            self._walk_to(*inner, speed=step.speed)
            self._walk_to(*outer, speed=step.speed)
        self.state = BodyState(self.state.x, self.state.y, self.state.heading, STAND, FLOOR, visible=False)
        self.posture = "absent"

    def absent(self, step: Step) -> None:
        """Stay out of view."""
        if self.posture != "absent":
            self.state = BodyState(
                self.state.x, self.state.y, self.state.heading, STAND, FLOOR, visible=False
            )
            self.posture = "absent"
        self._hold("absent", step.seconds or 2.0, sway=0.0)

    def enter(self, step: Step) -> None:
        """Come in through a door (or appear at a point) and walk into the room."""
        if step.target is not None:
            x, y = step.target
            self.state = BodyState(x, y, self.state.heading, STAND)
        else:
            inner, outer = door_points(self.scene.room, self.state.x, self.state.y)
            heading = math.atan2(inner[1] - outer[1], inner[0] - outer[0])
            self.state = BodyState(outer[0], outer[1], heading, STAND)
            self.posture = "stand"
            self._walk_to(*inner, speed=step.speed)
        self.posture = "stand"

    def fall(self, step: Step) -> None:
        """Fall to the floor; the person stays down until `get_up` (or the end)."""
        kind = step.kind or "forward"
        duration = step.seconds or self._jitter(FALL_SECONDS[kind])
        if kind == "slide":
            if self.posture != "sit" or self.on is None or self.on.type == "bed":
                raise ScriptError(f"{self.person.id}: a slide fall starts seated on a chair or sofa")
            phases = slide_phases(seat_spot(self.on).seat_z)
        else:
            self.ensure_standing()
            phases = FALLS[kind]
        start = self.t
        self.on = None
        self._motion("fall", duration, phases, side=step.side)
        impact = self.t
        settled = self.state.with_pose(settle(self.state.pose), FLOOR)
        self._to("on_floor", settled, SETTLE_S)
        self.posture = "floor"
        self.events.append(TruthEvent(self.person.id, "fall", kind, start, impact))

    def down(self, step: Step) -> None:
        """Stay on the floor."""
        if self.posture != "floor":
            raise ScriptError(f"{self.person.id}: 'down' needs a fall before it")
        self._hold("on_floor", step.seconds or 5.0, sway=0.003)

    def get_up(self, step: Step) -> None:
        """Get up from the floor to standing (a recovery)."""
        if self.posture != "floor":
            self.ensure_standing()
            return
        start = self.t
        self._motion("get_up", step.seconds or self._jitter(4.0), GET_UP)
        self.posture = "stand"
        for i, ev in enumerate(self.events):
            if ev.person == self.person.id and ev.end_t is None and ev.furniture_type is None:
                self.events[i] = _ended(ev, start)

    # --- driver ------------------------------------------------------------------------------

    def compile(self) -> tuple[Timeline, list[TruthEvent]]:
        """All steps, then the last posture held for ever."""
        actions: dict[str, Callable[[Step], None]] = {
            "walk": self.walk, "stand": self.stand, "turn": self.turn, "sit": self.sit,
            "stand_up": self.stand_up, "lie": self.lie, "lie_floor": self.lie_floor, "bend": self.bend,
            "crouch": self.crouch,
            "leave": self.leave, "absent": self.absent, "enter": self.enter, "fall": self.fall,
            "down": self.down, "get_up": self.get_up,
        }  # fmt: skip
        for step in self.person.script:
            actions[step.action](step)
        final = {"stand": "stand", "sit": "sitting", "lie": "lying", "floor": "on_floor", "absent": "absent"}
        self._hold(final[self.posture], FOREVER_S, sway=0.004 if self.posture != "absent" else 0.0)
        return Timeline(tuple(self.segments)), self.events


def _ended(ev: TruthEvent, t: float) -> TruthEvent:
    return TruthEvent(
        ev.person, ev.type, ev.kind, ev.start_t, ev.impact_t, ev.on_furniture, ev.furniture_type, t
    )


def compile_person(scene: Scene, index: int) -> tuple[Timeline, list[TruthEvent]]:
    """The timeline and events of the scene's `index`-th person (deterministic per scene seed)."""
    rng = np.random.default_rng([scene.seed, index, 0x5C])
    return _Compiler(scene, scene.people[index], rng).compile()


def script_end(timeline: Timeline) -> float:
    """When the scripted part ends (before the final hold)."""
    return timeline.segments[-1].t0 if timeline.segments else 0.0
