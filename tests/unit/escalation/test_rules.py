"""What can never pass: policy keys out of bounds, and feed bodies with anything but numbers and booleans.

The policy caps an escalation at 300 s, names a co-signer that is another actor of the policy, lets
an actor escalate only after events it receives, and lets at most one actor escalate by itself. The
door refuses a feed body with a string, bytes, an extra key, too many keypoints or people; a body
it builds from a sample always validates against the published schema and holds no string at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.privacy.door import Door
from gateway.privacy.feed import FeedHeader, FeedRefused, feed_body
from gateway.privacy.policy import Policy, load_policy
from gateway.privacy.projection import Location
from gateway.topics import Topics
from gateway.vision.scene import PersonSample, SceneSample
from gateway.yamlfile import ConfigError, parse_yaml_model
from tests.contract import check_message

BASE = """\
version: t
actors:
  ambulance:
    purpose: Reaching people who have fallen
    grants: [{events: [fall.confirmed], fields: [zone]}]
    escalation: {ESCALATION}
  gemeente:
    purpose: Operating the network, co-signing
    grants: [{events: [fall.confirmed], fields: [zone]}]
    escalation: {OTHER}
"""
TOPICS = Topics("city", "site-a", "gw-1")
WHEN = datetime(2026, 11, 27, 18, 4, 5, tzinfo=UTC)
POSE = tuple((0.123456, 0.98765, 0.5) for _ in range(17))


def policy(escalation: str, other: str = "null") -> Policy:
    text = BASE.replace("{ESCALATION}", escalation).replace("{OTHER}", other)
    return parse_yaml_model(text, Policy, Path("policy.yaml"))


@pytest.mark.parametrize(
    ("escalation", "other", "error"),
    [
        ("{events: [fall.confirmed], max_s: 301}", "null", "less than or equal to 300"),
        ("{events: [flood.alarm], max_s: 60}", "null", "not granted: flood.alarm"),
        ("{events: [fall.detected], max_s: 60}", "null", "events"),
        ("{events: [fall.confirmed], max_s: 60, co_sign: brandweer}", "null", "co_sign"),
        ("{events: [fall.confirmed], max_s: 60, co_sign: ambulance}", "null", "co_sign"),
        ("{events: [fall.confirmed], max_s: 60, auto_on: [fall.confirmed], auto_s: 61}", "null", "auto_s"),
        (
            "{events: [fall.confirmed], max_s: 60, auto_on: [fall.confirmed]}",
            "{events: [fall.confirmed], max_s: 60, auto_on: [fall.confirmed]}",
            "only one actor",
        ),
        ("{events: [fall.confirmed], max_s: 60, interval_s: 0.01}", "null", "interval_s"),
    ],
)
def test_the_policy_refuses_escalations_out_of_bounds(escalation: str, other: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        policy(escalation, other)


def test_the_shipped_policy_escalates_as_documented() -> None:
    shipped = load_policy()
    ambulance = shipped.actors["ambulance"].escalation
    assert (
        ambulance is not None and ambulance.co_sign == "gemeente" and ambulance.auto_on == ["fall.confirmed"]
    )
    assert ambulance.max_s <= 300 and ambulance.auto_s <= ambulance.max_s
    assert shipped.grant_of("bewoners", "escalation.monthly") is not None


def body() -> dict[str, Any]:
    people = (PersonSample(3, POSE, True, 0.333, True), PersonSample(4, (), False, 99.0, False))
    return feed_body(SceneSample("hall", WHEN, people), FeedHeader(5, 0, 0.04, 179.96), {})


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    return []


def test_a_built_feed_body_is_rounded_numbers_and_validates() -> None:
    door = Door(TOPICS, load_policy(), {"": Location()})
    publication = door.escalation_feed("ambulance", body())
    assert publication.topic == "city/v1/ambulance/site-a/gw-1/escalation/feed"
    assert check_message(publication.topic, publication.payload).kind == "escalation_feed"
    sent = json.loads(publication.payload)
    assert strings(sent) == []
    assert sent["people"][0]["keypoints"][0] == [0.12, 0.99, 0.5]
    assert sent["people"][0]["motion"] == 0.35 and sent["people"][1]["motion"] == 10.0
    assert sent["others_present"] is True and sent["t_s"] == 0.0


@pytest.mark.parametrize(
    "change",
    [
        {"note": "hello"},
        {"escalation": "5"},
        {
            "people": [
                {
                    "person": 1,
                    "down": True,
                    "moving": False,
                    "motion": 0.0,
                    "keypoints": [],
                    "crop": "/9j/4AAQ",
                }
            ]
        },
        {
            "people": [
                {"person": 1, "down": True, "moving": False, "motion": 0.0, "keypoints": [[0.1, 0.2, 0.3]]}
            ]
        },
        {
            "people": [
                {
                    "person": 1,
                    "down": True,
                    "moving": False,
                    "motion": 0.0,
                    "keypoints": [[255, 216, 255]] * 17,
                }
            ]
        },
        {"people": [{"person": 1, "down": "yes", "moving": False, "motion": 0.0, "keypoints": []}]},
        {
            "people": [
                {"person": n, "down": False, "moving": False, "motion": 0.0, "keypoints": []}
                for n in range(1, 12)
            ]
        },
        {"historical": 0},
        {"seq": float("nan")},
    ],
)
def test_the_door_refuses_anything_but_the_feed_shape(change: dict[str, Any]) -> None:
    door = Door(TOPICS, load_policy(), {"": Location()})
    with pytest.raises(FeedRefused):
        door.escalation_feed("ambulance", {**body(), **change})
