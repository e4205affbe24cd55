"""The break-glass feed as an actor receives it: numbers and booleans only, rounded, bounded.

A `SceneSample` (gateway/vision/scene.py) becomes one feed body: per person a small number of
this escalation, the 17 pose keypoints as (x, y, score) fractions rounded to KEYPOINT_STEP,
whether they move and how much, whether they are down; and whether someone else is present.
`check_feed` holds every body to that shape before the door lets it out: no string anywhere, no
key it does not name, a fixed number of numbers per person and a cap on people. Image bytes, a
crop or a box have nowhere to go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.messages import SCHEMA_VERSION, JsonValue
from gateway.privacy.projection import round_step
from gateway.vision.scene import SceneSample

KEYPOINT_STEP = 0.01  # a hundredth of the frame: a limb's direction, not a face
MOTION_STEP = 0.05  # body heights per second
MAX_MOTION = 10.0  # faster than this is a tracking jump, not a person
MAX_PEOPLE = 10  # more in one camera's view is a crowd: the feed is for one casualty and helpers
KEYPOINTS = 17  # COCO-17, as the pose model gives them
BODY_KEYS = frozenset({"schema_version", "escalation", "seq", "t_s", "remaining_s", "historical"})
BODY_KEYS |= {"count", "others_present", "people"}
PERSON_KEYS = frozenset({"person", "down", "moving", "motion", "keypoints"})


class FeedRefused(ValueError):
    """A feed body that does not have the feed's shape: a bug, never let out."""


@dataclass(frozen=True, slots=True)
class FeedHeader:
    """Which escalation a body belongs to and where in it: numbers the desk keeps."""

    escalation: int  # this gateway's number for the escalation (the reply that opened it names it)
    seq: int  # 0, 1, 2, ... within the escalation
    t_s: float  # seconds since it opened
    remaining_s: float  # seconds until it closes


def feed_body(sample: SceneSample, header: FeedHeader, numbers: dict[int, int]) -> dict[str, JsonValue]:
    """One feed body; `numbers` maps tracks to the escalation's own person numbers (1, 2, ...; updated)."""
    people: list[JsonValue] = []
    for person in sample.people[:MAX_PEOPLE]:
        number = numbers.setdefault(person.track, len(numbers) + 1)
        keypoints: list[JsonValue] = [
            [round_step(x, KEYPOINT_STEP), round_step(y, KEYPOINT_STEP), round_step(s, KEYPOINT_STEP)]
            for x, y, s in person.keypoints[:KEYPOINTS]
        ]
        people.append(
            {
                "person": number,
                "down": person.down,
                "moving": person.moving,
                "motion": round_step(min(max(person.motion, 0.0), MAX_MOTION), MOTION_STEP),
                "keypoints": keypoints,
            }
        )
    down = [p for p in sample.people if p.down]
    others = len(sample.people) > len(down) if down else len(sample.people) >= 2
    return {
        "schema_version": SCHEMA_VERSION,
        "escalation": header.escalation,
        "seq": header.seq,
        "t_s": round(header.t_s, 1),
        "remaining_s": round(max(header.remaining_s, 0.0), 1),
        "historical": False,
        "count": len(sample.people),
        "others_present": others,
        "people": people,
    }


def _number(value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeedRefused(f"{type(value).__name__} where the feed has a number")
    if not (math.isfinite(value) and low <= value <= high):
        raise FeedRefused(f"{value!r} outside {low}..{high}")


def _flag(value: object) -> None:
    if not isinstance(value, bool):
        raise FeedRefused(f"{type(value).__name__} where the feed has a boolean")


def _person(person: object) -> None:
    if not isinstance(person, dict) or set(person) != PERSON_KEYS:
        raise FeedRefused("a person has exactly the keys " + ", ".join(sorted(PERSON_KEYS)))
    _number(person["person"], 1, 10_000)
    _flag(person["down"])
    _flag(person["moving"])
    _number(person["motion"], 0.0, MAX_MOTION)
    points = person["keypoints"]
    if not isinstance(points, list) or len(points) not in (0, KEYPOINTS):
        raise FeedRefused(f"keypoints are none or exactly {KEYPOINTS}")
    for point in points:
        if not isinstance(point, list) or len(point) != 3:  # x, y, score
            raise FeedRefused("a keypoint is [x, y, score]")
        for value in point:
            _number(value, 0.0, 1.0)


def check_feed(body: Mapping[str, JsonValue]) -> None:
    """FeedRefused unless `body` has exactly the feed's shape (see the module docstring)."""
    if set(body) != BODY_KEYS or body["schema_version"] != SCHEMA_VERSION:
        raise FeedRefused("a feed body has exactly the keys " + ", ".join(sorted(BODY_KEYS)))
    for name, high in (("escalation", 2**53), ("seq", 2**53), ("t_s", 1e6), ("remaining_s", 1e6)):
        _number(body[name], 0, high)
    _flag(body["historical"])
    _flag(body["others_present"])
    _number(body["count"], 0, 10_000)
    people = body["people"]
    if not isinstance(people, list) or len(people) > MAX_PEOPLE:
        raise FeedRefused(f"people is a list of at most {MAX_PEOPLE}")
    for person in people:
        _person(person)
