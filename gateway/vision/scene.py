"""A camera's scene as a few numbers, and only while an escalation asks: the break-glass feed's source.

`SceneTap` joins a camera's pipeline as its last frame detector (as the commissioning view does),
right after the fall detector has placed this frame's people; it never emits an event. While armed
(gateway/escalation/ arms it until a deadline) it hands the sink a `SceneSample` at most once per
interval: per tracked person the pose keypoints as fractions of the frame, whether and how much
they move, whether they are down after a fall. The frame itself, crops and boxes stay here: a
sample has no field that could hold them, and the privacy door rounds what it has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from gateway.messages import Event, Frame
from gateway.vision.fall import Observation
from gateway.vision.pose import SEEN, pose_region
from gateway.vision.pose_features import Pose

MIN_BODY_FRACTION = 0.1  # a body shorter than this fraction of the frame is measured as this tall


@dataclass(frozen=True, slots=True)
class PersonSample:
    """One tracked person at one moment, as numbers only."""

    track: int
    keypoints: tuple[tuple[float, float, float], ...]  # COCO-17 (x, y, score), x and y in 0..1 of the frame
    moving: bool  # the person's motion blob moved within the last second
    motion: float  # mean speed of the keypoints seen twice, in body heights per second (0: unknown)
    down: bool  # down after a detected fall, not yet up again


@dataclass(frozen=True, slots=True)
class SceneSample:
    """Everyone one camera sees at one moment."""

    camera: str
    time: datetime
    people: tuple[PersonSample, ...]


Sink = Callable[[SceneSample], None]


class SeesPeople(Protocol):
    """What the tap reads: a fall detector, or the rollout's pair of them (its active one)."""

    @property
    def observations(self) -> list[Observation]: ...


class SceneTap:
    """A FrameDetector that samples the fall detector's people while armed, and does nothing otherwise."""

    def __init__(self, camera: str, fall: SeesPeople, sink: Sink) -> None:
        self.camera = camera
        self._fall = fall
        self._sink = sink
        self._lock = threading.Lock()
        self._until = float("-inf")  # monotonic deadline of the current arming
        self._interval = 1.0
        self._next: float | None = None  # when the next sample is due (None: on the next frame)
        self._last: dict[int, tuple[float, Pose]] = {}  # track -> (frame time, last confident pose)
        self._people: set[int] = set()  # tracks seen with a confident pose: people, not ghosts

    def arm(self, until: float, interval_s: float) -> None:
        """Sample from the next frame on, every `interval_s`, until the monotonic time `until`."""
        with self._lock:
            self._until, self._interval, self._next = until, interval_s, None

    def disarm(self) -> None:
        """Stop sampling now."""
        with self._lock:
            self._until = float("-inf")

    def on_frame(self, frame: Frame) -> list[Event]:
        """A sample for the sink when armed and due; never an event."""
        now = time.monotonic()
        with self._lock:
            if now >= self._until:
                self._last.clear()
                self._people.clear()
                return []
            if self._next is not None and now < self._next:
                return []
            self._next = now + self._interval
        height, width = frame.image.shape[:2]
        t = frame.time.timestamp()
        people = [p for o in self._fall.observations if (p := self._person(o, t, width, height)) is not None]
        self._sink(SceneSample(self.camera, frame.time, tuple(people)))
        return []

    def _person(self, seen: Observation, t: float, width: int, height: int) -> PersonSample | None:
        pose = seen.pose
        if pose is not None and pose_region(pose) is not None:
            self._people.add(seen.track)
        if seen.track not in self._people and not seen.down:
            return None  # never posed: a moved chair or a ghost, not a person
        before = self._last.get(seen.track)
        motion = 0.0
        if pose is not None and before is not None and t > before[0]:
            motion = _speed(before[1], pose, t - before[0], height)
        if pose is None and before is not None:
            pose = before[1]  # coasting: the last pose seen stands for where they are
        if pose is not None:
            self._last[seen.track] = (t, pose)
        keypoints = () if pose is None else _normalised(pose, width, height)
        return PersonSample(seen.track, keypoints, seen.moving, motion, seen.down)


def _normalised(pose: Pose, width: int, height: int) -> tuple[tuple[float, float, float], ...]:
    x = np.clip(pose.xy[:, 0] / max(width, 1), 0.0, 1.0)
    y = np.clip(pose.xy[:, 1] / max(height, 1), 0.0, 1.0)
    score = np.clip(pose.score, 0.0, 1.0)
    return tuple((float(a), float(b), float(c)) for a, b, c in zip(x, y, score, strict=True))


def _speed(before: Pose, after: Pose, dt: float, height: int) -> float:
    """Mean displacement of the keypoints seen in both poses, per second, in body heights."""
    both = (before.score >= SEEN) & (after.score >= SEEN)
    if not both.any():
        return 0.0
    moved = np.linalg.norm(after.xy[both] - before.xy[both], axis=1).mean()
    seen_y = after.xy[after.score >= SEEN, 1]
    body = max(float(np.ptp(seen_y)) if seen_y.size else 0.0, MIN_BODY_FRACTION * height, 1.0)
    return float(moved) / body / dt
