"""The door: the one place events become Publications, one projection per granted actor.

A small policy with three actors: `alpha` (band only, with site and zone), `beta` (band and
rounded pm25, sensor events) and `residents` (air.summary aggregated per zone and minute, at
least two events per window). Binary content cannot become a Publication at all: not as a
payload, and not as a value in an event's data.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2  # test-only: real images to refuse; cv2 stays out of gateway/
import numpy as np
import pytest

from gateway.messages import MAX_PAYLOAD, Event, Publication, SourceHealth
from gateway.privacy.door import Door
from gateway.privacy.policy import Policy
from gateway.privacy.projection import Location, NotJson
from gateway.topics import Topics
from gateway.yamlfile import parse_yaml_model

POLICY = """\
version: test-1
actors:
  alpha:
    purpose: Seeing air quality bands per zone
    grants:
      - events: [air.band_changed]
        fields: [band]
        include: [site]
        location: zone
  beta:
    purpose: Seeing bands, fine dust and sensor health
    grants:
      - events: [air.band_changed, sensor.*]
        fields: [band, pm25, faults]
        round: {pm25: 1}
  residents:
    purpose: Hourly air quality per neighbourhood
    grants:
      - events: [air.summary]
        fields: [band, pm25]
        round: {pm25: 1}
        time_round_s: 60
        location: zone
        aggregate: {window_s: 60, min_count: 2}
"""
T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # a window boundary for every window length used
LOCATIONS = {
    "": Location("centrum", 52.0601, 4.4942),
    "pm-west": Location("west", 52.05, 4.48),
}


def make_door(policy_text: str = POLICY, time_scale: float = 1.0) -> Door:
    policy = parse_yaml_model(policy_text, Policy, Path("policy.yaml"))
    return Door(Topics("city", "site-a", "gw-1"), policy, LOCATIONS, time_scale)


def band(t: datetime = T0, source: str = "pm-1", **extra: Any) -> Event:
    return Event("air.band_changed", source, {"band": "poor", "previous": "fair", "pm25": 31.26, **extra}, t)


def summary(t: datetime, source: str = "pm-1", pm25: float = 10.0) -> Event:
    return Event("air.summary", source, {"band": "good", "pm25": pm25, "pm10": 20.0, "readings": 60}, t)


def test_each_granted_actor_gets_its_own_topic_and_projection() -> None:
    door = make_door()
    pubs = {p.actor: p for p in door.event(band())}
    assert set(pubs) == {"alpha", "beta"}
    for actor, pub in pubs.items():
        assert pub.topic == f"city/v1/{actor}/site-a/gw-1/events/air.band_changed"
        assert not pub.retain
    alpha, beta = (json.loads(pubs[a].payload) for a in ("alpha", "beta"))
    assert alpha["data"] == {"band": "poor"}
    assert alpha["site"] == "site-a"
    assert alpha["location"] == {"zone": "centrum"}
    assert beta["data"] == {"band": "poor", "pm25": 31.0}
    assert "site" not in beta and "location" not in beta
    assert alpha["actor"] == "alpha" and beta["actor"] == "beta"
    assert alpha["id"] != beta["id"]
    assert alpha["time"] == beta["time"] == "2026-11-27T18:00:00Z"


def test_ungranted_event_type_produces_nothing_and_is_withheld() -> None:
    door = make_door()
    flood = Event("flood.alarm", "cam-1", {"level": "alarm", "depth_mm": 120}, T0)
    assert door.event(flood) == []
    assert door.event(flood) == []
    assert door.withheld == {"flood.alarm": 2}
    assert door.event(band()) != []
    assert door.withheld == {"flood.alarm": 2}  # granted types are not counted
    assert door.dropped == {("alpha", "previous"): 1, ("alpha", "pm25"): 1, ("beta", "previous"): 1}


def test_dropped_fields_are_counted_per_actor() -> None:
    door = make_door()
    door.event(band(secret="x", face=[1, 2]))
    door.event(band())
    assert door.dropped == {
        ("alpha", "previous"): 2,
        ("alpha", "pm25"): 2,
        ("alpha", "secret"): 1,
        ("alpha", "face"): 1,
        ("beta", "previous"): 2,
        ("beta", "secret"): 1,
        ("beta", "face"): 1,
    }


def test_sensor_events_reach_only_the_actor_granted_them() -> None:
    door = make_door()
    pubs = door.event(Event("sensor.fault", "pm-1", {"faults": ["stuck"], "detail": {"stuck": "x"}}, T0))
    assert [p.actor for p in pubs] == ["beta"]
    assert json.loads(pubs[0].payload)["data"] == {"faults": ["stuck"]}
    assert door.dropped == {("beta", "detail"): 1}


def test_aggregated_grant_publishes_one_summary_per_zone_and_window_on_tick() -> None:
    door = make_door()
    assert door.event(summary(T0 + timedelta(seconds=5), "pm-1", 10.0)) == []
    assert door.event(summary(T0 + timedelta(seconds=20), "pm-2", 13.0)) == []
    assert door.event(summary(T0 + timedelta(seconds=59), "pm-1", 12.0)) == []
    assert door.tick(T0 + timedelta(seconds=59.9)) == []  # window not over yet
    pubs = door.tick(T0 + timedelta(seconds=60))
    assert len(pubs) == 1
    pub = pubs[0]
    assert pub.actor == "residents"
    assert pub.topic == "city/v1/residents/site-a/gw-1/events/air.summary"
    body = json.loads(pub.payload)
    assert body["count"] == 3
    assert body["window_s"] == 60
    assert body["time"] == "2026-11-27T18:01:00Z"  # the window's end
    assert body["location"] == {"zone": "centrum"}
    assert body["data"] == {"band": "good", "pm25": 12.0}  # mean 11.67 rounded to 1
    assert "source" not in body and "site" not in body
    assert door.tick(T0 + timedelta(seconds=600)) == []  # published once only
    assert door.dropped[("residents", "readings")] == 3


def test_zones_and_windows_are_summarised_separately() -> None:
    door = make_door()
    for seconds, source in [
        (1, "pm-1"),
        (2, "pm-1"),
        (3, "pm-west"),
        (4, "pm-west"),
        (61, "pm-1"),
        (62, "pm-1"),
    ]:
        assert door.event(summary(T0 + timedelta(seconds=seconds), source)) == []
    first = [json.loads(p.payload) for p in door.tick(T0 + timedelta(seconds=60))]
    assert sorted(b["location"]["zone"] for b in first) == ["centrum", "west"]
    assert [b["count"] for b in first] == [2, 2]
    assert len({b["id"] for b in first}) == 2
    second = [json.loads(p.payload) for p in door.tick(T0 + timedelta(seconds=120))]
    assert [(b["location"], b["count"], b["time"]) for b in second] == [
        ({"zone": "centrum"}, 2, "2026-11-27T18:02:00Z")
    ]


def test_windows_below_min_count_are_never_published() -> None:
    door = make_door()
    door.event(summary(T0 + timedelta(seconds=5)))  # alone in its window
    door.event(summary(T0 + timedelta(seconds=65), "pm-west"))  # alone in another zone's window
    assert door.tick(T0 + timedelta(seconds=60)) == []
    assert door.tick(T0 + timedelta(hours=5)) == []


def test_aggregation_windows_follow_the_simulated_time_scale() -> None:
    door = make_door(time_scale=60)  # a 60 s window lasts one wall second
    door.event(summary(T0 + timedelta(seconds=0.1)))
    door.event(summary(T0 + timedelta(seconds=0.9)))
    assert door.tick(T0 + timedelta(seconds=0.95)) == []
    assert [json.loads(p.payload)["count"] for p in door.tick(T0 + timedelta(seconds=1))] == [2]


def test_summary_time_is_no_finer_than_the_grant() -> None:
    door = make_door(POLICY.replace("time_round_s: 60", "time_round_s: 3600"))
    t = T0 + timedelta(minutes=10, seconds=5)
    door.event(summary(t))
    door.event(summary(t + timedelta(seconds=1)))
    [pub] = door.tick(t + timedelta(minutes=1))
    assert datetime.fromisoformat(json.loads(pub.payload)["time"]).timestamp() % 3600 == 0


def test_gateway_and_source_status_stay_in_the_gateway_namespace() -> None:
    door = make_door()
    assert door.gateway_status(True).topic == "city/v1/site-a/gw-1/status"
    assert door.gateway_status(False).payload == b"offline"
    health = SourceHealth("pm-1", True, 10, 1, 0, 0, T0)
    pub = door.source_health(health, T0 + timedelta(seconds=2))
    assert pub.topic == "city/v1/site-a/gw-1/sources/pm-1/status"
    assert pub.retain
    assert json.loads(pub.payload)["last_reading_age_s"] == 2.0


def jpeg() -> bytes:
    image = np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)  # noqa: TID251  # tests may encode images
    assert ok
    data = bytes(encoded)
    assert data.startswith(b"\xff\xd8\xff")
    return data


def png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.zeros((4, 4), np.uint8))  # noqa: TID251  # tests may encode images
    assert ok
    return bytes(encoded)


@pytest.mark.parametrize(
    "payload",
    [
        "a str is not bytes",
        bytearray(b"{}"),
        memoryview(b"{}"),
        b"\xc3\x28",  # invalid UTF-8
        b"x" * (MAX_PAYLOAD + 1),
        jpeg(),
        png(),
        np.zeros(4, np.uint8),
    ],
    ids=["str", "bytearray", "memoryview", "bad-utf8", "too-big", "jpeg", "png", "ndarray"],
)
def test_publication_refuses_non_text_or_oversized_payloads(payload: Any) -> None:
    with pytest.raises(ValueError):  # UnicodeDecodeError is a ValueError
        Publication(event_id="e", topic="city/v1/alpha/s/g/events/air.band_changed", payload=payload)


def test_publication_accepts_utf8_text_up_to_the_limit() -> None:
    assert Publication("e", "t", "é".encode() * (MAX_PAYLOAD // 2)).payload.decode()


@pytest.mark.parametrize(
    "value",
    [jpeg(), bytearray(jpeg()), memoryview(jpeg()), np.zeros((32, 32, 3), np.uint8), {"frame": [jpeg()]}],
    ids=["bytes", "bytearray", "memoryview", "ndarray", "nested"],
)
@pytest.mark.parametrize("field", ["band", "snapshot"])
def test_image_content_in_event_data_is_refused_by_the_door(value: Any, field: str) -> None:
    door = make_door()
    with pytest.raises(NotJson):
        door.event(band(**{field: value}))


def test_base64_image_is_too_long_to_pass() -> None:
    door = make_door()
    encoded = base64.b64encode(jpeg()).decode()
    pubs = door.event(band(band=encoded))
    for pub in pubs:
        assert encoded not in pub.payload.decode()
        assert json.loads(pub.payload)["data"].get("band") is None
    assert door.dropped[("alpha", "band")] == 1
