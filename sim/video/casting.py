"""Random people and their scripts for generated scenes (see `sim.video.generate`).

An actor keeps track of where they are while the script is written, so every walk is clear of
furniture, every seat is reachable, and a fall lands on free floor in the camera's view.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sim.video.furniture import seat_spot
from sim.video.geometry import Camera, heading_vector, right_vector
from sim.video.scene import Furniture, Room, Step
from sim.video.world import door_points, free, path_clear

FALL_REACH_M = {"forward": 1.8, "backward": 1.3, "sideways": 1.2, "collapse": 0.9}
LIE_FLOOR_AS = "backward"  # lying back on the floor needs the room a backward fall needs


class Stage(Protocol):
    """What an actor needs of the scene being generated."""

    rng: np.random.Generator
    room: Room
    camera: Camera

    def spot(self, height: float, margin: float = 0.4) -> tuple[float, float] | None:
        """A free floor point in view."""
        ...


def _r(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 2)


@dataclass(slots=True)
class Actor:
    """Writes one person's script step by step."""

    stage: Stage
    height: float
    pos: tuple[float, float]
    steps: list[Step] = field(default_factory=list)
    present: bool = True

    @property
    def rng(self) -> np.random.Generator:
        """The scene's random generator."""
        return self.stage.rng

    def walk(self) -> bool:
        """Walk somewhere clear and in view."""
        for _ in range(20):
            target = self.stage.spot(self.height)
            if target is not None and path_clear(self.stage.room, self.pos, target):
                self.steps.append(
                    Step(
                        "walk",
                        target=target,
                        speed=None if self.rng.uniform() < 0.7 else _r(self.rng, 0.4, 1.5),
                    )
                )
                self.pos = target
                return True
        return False

    def _seat(self, types: tuple[str, ...]) -> Furniture | None:
        room = self.stage.room
        options = [f for f in room.furniture if f.type in types]
        options = [options[i] for i in self.rng.permutation(len(options))]
        for item in options:
            spot = seat_spot(item, 1)
            if free(room, *spot.approach, 0.2) and path_clear(room, self.pos, spot.approach, 0.2):
                return item
        return None

    def sit(self) -> bool:
        """Sit on a chair or sofa for a while."""
        item = self._seat(("chair", "sofa"))
        if item is None:
            return False
        self.steps.append(Step("sit", on=item.id, seconds=_r(self.rng, 2.0, 10.0)))
        self.pos = seat_spot(item).approach
        return True

    def lie(self) -> bool:
        """Lie down on a bed or sofa on purpose."""
        room = self.stage.room
        for item in [f for f in room.furniture if f.type in ("bed", "sofa")]:
            side = int(self.rng.choice([-1, 1]))
            approach = seat_spot(item, side).approach
            if free(room, *approach, 0.2) and path_clear(room, self.pos, approach, 0.2):
                self.steps.append(Step("lie", on=item.id, seconds=_r(self.rng, 4.0, 15.0), side=side))
                self.pos = approach
                return True
        return False

    def lie_floor(self) -> bool:
        """Lie down on free floor in view on purpose (to exercise, to look under something)."""
        for _ in range(30):
            p = self.stage.spot(self.height, margin=0.6)
            if p is None or not path_clear(self.stage.room, self.pos, p):
                continue
            heading = float(self.rng.uniform(-math.pi, math.pi))
            if self._lands_clear(LIE_FLOOR_AS, p, heading, 1):
                self.steps += [
                    Step("walk", target=p),
                    Step("turn", heading_deg=math.degrees(heading)),
                    Step("lie_floor", seconds=_r(self.rng, 3.0, 15.0)),
                ]
                self.pos = p
                return True
        return False

    def lie_somewhere(self) -> bool:
        """Lie down on purpose: on a bed or sofa if there is one, else sometimes on the floor."""
        return self.lie() or (self.rng.uniform() < 0.4 and self.lie_floor())

    def bend(self) -> bool:
        """Bend to pick something up."""
        self.steps.append(Step("bend", seconds=_r(self.rng, 0.3, 2.0)))
        return True

    def crouch(self) -> bool:
        """Crouch for a while."""
        self.steps.append(Step("crouch", seconds=_r(self.rng, 1.5, 6.0)))
        return True

    def stand(self) -> bool:
        """Stand still."""
        self.steps.append(Step("stand", seconds=_r(self.rng, 0.5, 4.0)))
        return True

    def leave_and_return(self) -> bool:
        """Leave by a door, stay away, maybe come back."""
        room = self.stage.room
        if not room.doors or not path_clear(room, self.pos, door_points(room, *self.pos)[0]):
            return False
        self.steps += [Step("leave", on="door"), Step("absent", seconds=_r(self.rng, 1.0, 5.0))]
        if self.rng.uniform() < 0.6:
            self.steps.append(Step("enter", on="door"))
            self.pos = door_points(room, *self.pos)[0]
        else:
            self.present = False
        return True

    def everyday(self, count: int, lie_bias: float = 0.3) -> None:
        """`count` everyday activities; `lie_bias` is the chance to try lying down first."""
        acts: list[Callable[[], bool]] = [
            self.walk,
            self.walk,
            self.sit,
            self.bend,
            self.crouch,
            self.stand,
            self.lie_somewhere,
        ]
        if self.rng.uniform() < lie_bias:
            self.walk()
            self.lie_somewhere()
        for _ in range(count):
            if not self.present:
                return
            act = acts[int(self.rng.integers(len(acts)))]
            act()
        if self.present and self.rng.uniform() < 0.15:
            self.leave_and_return()

    # --- falls -----------------------------------------------------------------------------------

    def fall(self, kind: str) -> bool:
        """Walk to a clear spot, face so the fall lands on free floor in view, and fall."""
        if kind == "slide":
            return self._slide()
        for _ in range(60):
            p = self.stage.spot(self.height, margin=0.6)
            if p is None or not path_clear(self.stage.room, self.pos, p):
                continue
            heading = float(self.rng.uniform(-math.pi, math.pi))
            side = int(self.rng.choice([-1, 1]))
            if self._lands_clear(kind, p, heading, side):
                self.steps += [Step("walk", target=p), Step("turn", heading_deg=math.degrees(heading))]
                if self.rng.uniform() < 0.5:
                    self.steps.append(Step("stand", seconds=_r(self.rng, 0.3, 2.0)))
                self.steps.append(Step("fall", kind=kind, side=side))
                self.pos = p
                return True
        return False

    def _lands_clear(self, kind: str, p: tuple[float, float], heading: float, side: int) -> bool:
        f, r = heading_vector(heading), right_vector(heading)
        direction = {
            "forward": f,
            "backward": -f,
            "sideways": side * r,
            "collapse": 0.6 * f + 0.6 * side * r,
        }[kind]
        reach = FALL_REACH_M[kind] * self.height / 1.75
        for s in np.linspace(0.0, reach, 7):
            x, y = p[0] + direction[0] * s, p[1] + direction[1] * s
            if not free(self.stage.room, x, y, 0.25) or not self.stage.camera.sees((x, y, 0.2), 4.0):
                return False
        return True

    def _slide(self) -> bool:
        room = self.stage.room
        for item in [f for f in room.furniture if f.type in ("chair", "sofa")]:
            spot = seat_spot(item)
            f = heading_vector(spot.heading)
            land = (spot.seat[0] + f[0] * 1.2, spot.seat[1] + f[1] * 1.2)
            reachable = free(room, *spot.approach, 0.2) and path_clear(room, self.pos, spot.approach, 0.2)
            if reachable and free(room, *land, 0.2) and self.stage.camera.sees((*land, 0.2), 4.0):
                self.steps += [
                    Step("sit", on=item.id, seconds=_r(self.rng, 1.0, 6.0)),
                    Step("fall", kind="slide"),
                ]
                self.pos = spot.approach
                return True
        return False

    def after_fall(self) -> None:
        """Stay down, or get up after a while (and maybe walk on)."""
        self.steps.append(Step("down", seconds=_r(self.rng, 3.0, 20.0)))
        if self.rng.uniform() < 0.4:
            self.steps.append(Step("get_up"))
            if self.rng.uniform() < 0.5:
                self.walk()
