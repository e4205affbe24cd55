"""The privacy audit: everything that reached the broker, checked against the shipped policy.

A simulated site (the "default" scenario: smoke, a filling room, line noise, an unplugged
sensor) plays through a real gateway process into a real Mosquitto while an administrator
subscribes to `#`. Afterwards every message on the broker is audited: the gateway's own
status and source health carry only what their schemas name; every event is one actor's
projection, on that actor's topic, of a type the default policy grants it, with only the
granted data fields and envelope, at no finer time or place than granted; and no payload holds
binary, image bytes or long base64. The run lasts until at least one residents' (`bewoners`)
hourly aggregate has arrived, so the audit is not vacuous.

A live simulated camera joins the site: someone falls on a rug in a loop, so fall events (the
ambulance's, the fire brigade's) are audited too, including timestamps inside their data. A
confirmed fall opens the ambulance's automatic break-glass escalation (default policy): its
derived feed is audited message by message (only to an actor the policy lets escalate, schema
valid, numbers and booleans only, no string that could carry an image), and so are its answers.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.events import matching_types
from gateway.privacy.policy import Grant, Policy, load_policy
from gateway.privacy.projection import TIMESTAMP
from sim.broker import Mosquitto
from sim.video import load_scene, scene_path
from sim.video.server import MjpegServer
from tests.contract import validator
from tests.e2e.harness import SiteRun
from tests.mqtt_helpers import Received, Recorder

EVENT_SCHEMA = validator("event-v1.json")  # envelope, and data by type (tests/contract.py)
STATUS_SCHEMA = validator("source-status-v1.json")
FEED_SCHEMA = validator("escalation-feed-v1.json")
ESCALATION_REPLY_SCHEMA = validator("escalation-reply-v1.json")

# 120x: the scenario's half hour takes 15 s and an hour-long aggregation window 30 s, so the first
# residents' summary arrives within two windows of the start (see wait_for_aggregate).
SCALE = 120
SITE, GATEWAY, PREFIX = "sim-default", "gw-sim", "city"
ZONE, LAT, LON = "centrum", 52.0601, 4.4942
HERE = {"zone": ZONE, "lat": LAT, "lon": LON}
SENSORS = {"sds-1", "pms-1", "mhz-1"}
CAMERA = "hall"
SOURCES = SENSORS | {CAMERA}
NO_AIR_ACTORS = ("politie", "ambulance", "brandweer", "rijkswaterstaat")
AIR_AND_SENSOR = matching_types("air.*") | matching_types("sensor.*")
ALWAYS = {"schema_version", "id", "type", "actor", "time", "historical", "data"}
AGGREGATED = {"window_s", "count"}
EARTH_RADIUS_M = 6_371_008.8

EVENT_TOPIC = re.compile(
    rf"{PREFIX}/v1/(?P<actor>[a-z][a-z0-9_-]*)/{SITE}/{GATEWAY}/events/(?P<type>[a-z0-9_]+\.[a-z0-9_]+)"
)
SOURCE_TOPIC = re.compile(rf"{PREFIX}/v1/{SITE}/{GATEWAY}/sources/(?P<source>[a-z0-9_-]+)/status")
GATEWAY_STATUS = f"{PREFIX}/v1/{SITE}/{GATEWAY}/status"
FEED_TOPIC = re.compile(rf"{PREFIX}/v1/(?P<actor>[a-z][a-z0-9_-]*)/{SITE}/{GATEWAY}/escalation/feed")
ESCALATION_REPLY = re.compile(rf"{PREFIX}/v1/(?P<actor>[a-z][a-z0-9_-]*)/{SITE}/{GATEWAY}/replies/escalation")
LONG_BASE64 = re.compile(rb"[A-Za-z0-9+/=_-]{201,}")
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG")
FRAME = [[0, 0], [1, 0], [1, 1], [0, 1]]


def is_bewoners_summary(message: Received) -> bool:
    return message.topic == f"{PREFIX}/v1/bewoners/{SITE}/{GATEWAY}/events/air.summary"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def audit_bytes(message: Received) -> None:
    """No binary, no image, no long base64 in any payload, whatever the topic."""
    payload = message.payload
    payload.decode("utf-8")  # raises on anything that is not text
    for magic in IMAGE_MAGIC:
        assert magic not in payload, f"image bytes on {message.topic}"
    assert not LONG_BASE64.search(payload), f"long base64 run on {message.topic}"


def audit_location(body: dict[str, Any], grant: Grant) -> None:
    """Coordinates no finer than the grant: none, zone only, or a grid cell's centre."""
    location = body.get("location")
    if grant.location == "none":
        assert location is None
    elif grant.location == "zone":
        assert location == {"zone": ZONE}
    elif grant.location == "grid":
        assert location is not None and set(location) == {"lat", "lon", "grid_m"}
        assert (location["lat"], location["lon"]) != (LAT, LON)
        assert haversine_m(LAT, LON, location["lat"], location["lon"]) <= grant.grid_m


def audit_event(message: Received, policy: Policy) -> dict[str, Any]:
    """One event message against the policy; returns the body."""
    match = EVENT_TOPIC.fullmatch(message.topic)
    assert match, f"event outside every actor's namespace: {message.topic}"
    assert not message.retain
    body: dict[str, Any] = message.json()
    EVENT_SCHEMA.validate(body)
    actor, event_type = match["actor"], match["type"]
    assert body["actor"] == actor and body["type"] == event_type
    grants = dict(policy.grants_for(event_type))
    assert actor in grants, f"{actor} is not granted {event_type}"
    grant = grants[actor]
    assert set(body["data"]) <= set(grant.fields), (actor, event_type, body["data"])
    extra = AGGREGATED if grant.aggregate is not None else set()
    assert set(body) - ALWAYS <= set(grant.include) | {"location"} | extra, (actor, body)
    # aggregation windows run SCALE times faster on a simulated site; events keep real steps
    step = grant.time_round_s / SCALE if grant.aggregate is not None else grant.time_round_s
    assert body["time"].endswith("Z")
    seconds = datetime.fromisoformat(body["time"]).timestamp()
    assert seconds % step == 0, (actor, event_type, body["time"], step)
    for name, value in body["data"].items():
        if isinstance(value, str) and TIMESTAMP.fullmatch(value):
            assert datetime.fromisoformat(value).timestamp() % step == 0, (actor, event_type, name, value)
    audit_location(body, grant)
    if actor in NO_AIR_ACTORS:
        assert event_type not in AIR_AND_SENSOR, f"{actor} received {event_type}"
    return body


def strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    return []


def audit_escalation(message: Received, policy: Policy) -> bool:
    """A break-glass feed or answer: only in the namespace of an actor the policy lets escalate (or
    co-sign); a feed holds numbers and booleans only. False if the message is neither."""
    feed, reply = FEED_TOPIC.fullmatch(message.topic), ESCALATION_REPLY.fullmatch(message.topic)
    if not (feed or reply):
        return False
    assert not message.retain
    body = message.json()
    actor = (feed or reply)["actor"]  # type: ignore[index]
    escalating = {a for a, spec in policy.actors.items() if spec.escalation is not None}
    co_signers = {spec.escalation.co_sign for spec in policy.actors.values() if spec.escalation is not None}
    if feed:
        assert actor in escalating, f"a feed for {actor}"
        FEED_SCHEMA.validate(body)
        assert strings_in(body) == [], f"a string in a feed: {strings_in(body)[:3]}"
    else:
        assert actor in escalating | co_signers, f"an escalation answer for {actor}"
        ESCALATION_REPLY_SCHEMA.validate(body)
    return True


def audit(messages: list[Received], policy: Policy) -> list[dict[str, Any]]:
    """Every message on the broker; returns the event bodies."""
    health_keys = set(STATUS_SCHEMA.schema["properties"])
    bodies = []
    for message in messages:
        audit_bytes(message)
        if message.topic == GATEWAY_STATUS:
            assert message.payload in (b"online", b"offline")
        elif source := SOURCE_TOPIC.fullmatch(message.topic):
            body = message.json()
            STATUS_SCHEMA.validate(body)
            assert set(body) <= health_keys
            assert body["source"] == source["source"] in SOURCES
        elif not audit_escalation(message, policy):
            bodies.append(audit_event(message, policy))
    return bodies


def test_nothing_outside_the_policy_reaches_the_broker(tmp_path: Path, broker: Mosquitto) -> None:
    policy = load_policy()
    admin = Recorder(broker.host, broker.port, "#")
    camera = MjpegServer({CAMERA: load_scene(scene_path("fall_forward"))}).start()
    cameras = [{"id": CAMERA, "url": camera.url(CAMERA), "zones": [{"name": "rug", "polygon": FRAME}]}]
    run = SiteRun(tmp_path, broker, "default", SCALE, location=HERE, cameras=cameras)
    try:
        run.start()
        started = time.monotonic()
        run.wait_scenario()
        # the first full summary period ends within two windows of the start (the first may be
        # empty), and the aggregate window it falls into closes one window later
        window_wall_s = 3600 / SCALE
        remaining = 2 * window_wall_s + 15 - (time.monotonic() - started)
        admin.wait_for(lambda ms: any(map(is_bewoners_summary, ms)), timeout=max(1.0, remaining))
        assert run.stop_gateway() == 0, run.log_tail()
        messages = admin.wait_for(
            lambda ms: any(m.topic == GATEWAY_STATUS and m.payload == b"offline" for m in ms), timeout=5
        )
    finally:
        run.close()
        admin.close()
        camera.stop()

    bodies = audit(messages, policy)

    # not vacuous: the site spoke, each sensor reported health, residents got their aggregate
    received = {(b["actor"], b["type"]) for b in bodies}
    assert ("gemeente", "air.band_changed") in received, sorted(received)
    health = {m.topic for m in messages if SOURCE_TOPIC.fullmatch(m.topic)}
    assert health == {f"{PREFIX}/v1/{SITE}/{GATEWAY}/sources/{s}/status" for s in SOURCES}
    assert ("ambulance", "fall.detected") in received, sorted(received)
    if ("ambulance", "fall.confirmed") in received:  # the ambulance's automatic escalation opened
        feed = [m for m in messages if FEED_TOPIC.fullmatch(m.topic)]
        assert feed and {FEED_TOPIC.fullmatch(m.topic)["actor"] for m in feed} == {"ambulance"}  # type: ignore[index]
    summaries = [b for b in bodies if b["actor"] == "bewoners"]
    assert summaries, f"no bewoners aggregate arrived: {sorted(received)}\n{run.log_tail()}"
    for summary in summaries:
        assert summary["type"] == "air.summary"
        assert summary["count"] >= 1
        assert summary["window_s"] == 3600
        assert summary["location"] == {"zone": "centrum"}
    assert {actor for actor, _ in received} <= {"gemeente", "bewoners", "ambulance", "brandweer"}, sorted(
        received
    )
