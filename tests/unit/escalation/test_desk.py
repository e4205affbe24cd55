"""The escalation desk, message by message, with a real door, audit log and keys, and a hand-wound clock.

Policy: `ambulance` may escalate after fall.confirmed for at most 5 s, without co-signature, and
opens 2 s by itself; `brandweer` may escalate after flood.alarm or fall.confirmed, co-signed by
`gemeente` within 10 s; `politie` receives falls but may not escalate. Requests are signed with
keys listed as in `trust.actors`. Each refusal is answered on the sender's own reply topic and
audited; a valid request opens the feed (samples pass the door), which closes at its deadline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.escalation.desk import EscalationDesk
from gateway.escalation.records import COSIGN, REQUEST
from gateway.messages import Event, Publication
from gateway.privacy.door import Door
from gateway.privacy.policy import Policy
from gateway.privacy.projection import Location, actor_id
from gateway.security.signed_message import sign_body
from gateway.topics import Topics
from gateway.vision.scene import PersonSample, SceneSample
from gateway.yamlfile import parse_yaml_model
from tests.contract import check_message

POLICY = """\
version: esc-1
actors:
  ambulance:
    purpose: Reaching people who have fallen
    grants:
      - events: [fall.confirmed]
        fields: [zone]
    escalation: {events: [fall.confirmed], max_s: 5, auto_on: [fall.confirmed], auto_s: 2, interval_s: 0.2}
  brandweer:
    purpose: Responding to floods and falls
    grants:
      - events: [flood.alarm, fall.confirmed]
        fields: [level, zone]
    escalation: {events: [flood.alarm, fall.confirmed], max_s: 4, co_sign: gemeente, co_sign_within_s: 10}
  gemeente:
    purpose: Operating the network and co-signing escalations
    grants:
      - events: [camera.online]
  politie:
    purpose: Knowing when a camera fell, for a test
    grants:
      - events: [fall.confirmed]
        fields: [zone]
"""
NOW = datetime(2026, 11, 27, 18, 4, 5, tzinfo=UTC)
SITE, GW = "site-a", "gw-1"
POSE = tuple((0.5, 0.1 + 0.04 * i, 0.9) for i in range(17))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Tap:
    """Stands in for a camera's SceneTap: records arming."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.until = float("-inf")

    def arm(self, until: float, interval_s: float) -> None:
        self.until = until

    def disarm(self) -> None:
        self.until = float("-inf")


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.keys = {
            name: Ed25519PrivateKey.generate() for name in ("ambulance", "brandweer", "gemeente", "politie")
        }
        key_paths = {}
        for name, key in self.keys.items():
            path = tmp_path / f"{name}.pub.pem"
            path.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
            key_paths[name] = str(path)
        config = GatewayConfig.model_validate(
            {
                "site": SITE,
                "gateway": GW,
                "mqtt": {"host": "127.0.0.1", "port": 1883},
                "storage": str(tmp_path),
                "trust": {"actors": key_paths},
            }
        )
        self.door = Door(
            Topics("city", SITE, GW), parse_yaml_model(POLICY, Policy, tmp_path), {"": Location()}
        )
        self.audit = AuditLog(tmp_path / "audit.jsonl")
        self.audit_path = tmp_path / "audit.jsonl"
        self.desk = EscalationDesk(config, self.door, self.audit)
        self.clock = Clock()
        self.desk.clock = self.clock
        self.desk._minute = self.clock()
        self.taps = {c: Tap(c) for c in ("hall", "gang")}
        for tap in self.taps.values():
            self.desk.add_tap(tap)  # type: ignore[arg-type]

    def fall(self, camera: str = "hall") -> Event:
        event = Event("fall.confirmed", camera, {"zone": "rug"}, NOW)
        self.desk.on_event(event)
        return event

    def request(self, actor: str = "brandweer", **change: Any) -> dict[str, Any]:
        body = {
            "request_id": "r-1",
            "actor": actor,
            "site": SITE,
            "gateway": GW,
            "camera": "hall",
            "event_id": "",
            "duration_s": 3,
            "issued": NOW.isoformat(),
        }
        return {**body, **change}

    def send(
        self, kind: str, topic_actor: str, body: dict[str, Any] | bytes, signer: str | None = None
    ) -> list[Publication]:
        payload = body if isinstance(body, bytes) else sign_body(body, self.keys[signer or topic_actor])
        self.desk.receive(kind, topic_actor, payload)
        return self.desk.tick(NOW)

    def audited(self, kind: str) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.audit_path.read_text().splitlines()]
        return [r["detail"] for r in records if r["kind"] == kind]


def replies(publications: list[Publication], actor: str) -> list[dict[str, Any]]:
    topic = Topics("city", SITE, GW).escalation_reply(actor)
    out = []
    for p in publications:
        assert check_message(p.topic, p.payload).kind.startswith("escalation_")
        if p.topic == topic:
            out.append(json.loads(p.payload))
    return out


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def refused(site: Site, publications: list[Publication], actor: str, words: str) -> None:
    answers = replies(publications, actor)
    assert [a["status"] for a in answers] == ["refused"], answers
    assert words in answers[0]["detail"], answers[0]["detail"]
    assert words in site.audited("escalation.refused")[-1]["error"]
    assert all(o.automatic for o in site.desk.open)  # the policy's own one at most


def test_every_bad_request_is_refused_answered_and_audited(site: Site) -> None:
    event = site.fall()
    own = actor_id("brandweer", event.id)
    good = site.request(event_id=own)
    refused(
        site, site.send(REQUEST, "brandweer", json.dumps(good).encode()), "brandweer", "fields"
    )  # unsigned
    refused(
        site,
        site.send(REQUEST, "brandweer", {**good, "signature": "AAAA"}.__repr__().encode()),
        "brandweer",
        "JSON",
    )
    refused(site, site.send(REQUEST, "brandweer", good, signer="politie"), "brandweer", "bad signature")
    refused(site, site.send(REQUEST, "ambulance", good, signer="brandweer"), "ambulance", "wrong actor")
    refused(
        site, site.send(REQUEST, "politie", site.request("politie", event_id=own)), "politie", "wrong actor"
    )
    stale = (NOW - timedelta(minutes=6)).isoformat()
    refused(site, site.send(REQUEST, "brandweer", {**good, "issued": stale}), "brandweer", "expired")
    refused(site, site.send(REQUEST, "brandweer", {**good, "camera": "gang"}), "brandweer", "wrong camera")
    other = actor_id("ambulance", event.id)  # an id another actor received
    refused(
        site, site.send(REQUEST, "brandweer", {**good, "event_id": other}), "brandweer", "no event of yours"
    )
    refused(
        site, site.send(REQUEST, "brandweer", {**good, "gateway": "gw-2"}), "brandweer", "another gateway"
    )
    site.clock.t += 601
    refused(site, site.send(REQUEST, "brandweer", good), "brandweer", "expired: the event is older")
    assert len(site.audited("escalation.requested")) == 10


def test_dual_control_single_signed_expires_cosigned_opens(site: Site) -> None:
    event = site.fall()
    good = site.request(event_id=actor_id("brandweer", event.id))
    out = site.send(REQUEST, "brandweer", good)
    assert [a["status"] for a in replies(out, "brandweer")] == ["awaiting_co_sign"]
    asked = replies(out, "gemeente")
    assert asked[0]["status"] == "co_sign_requested" and asked[0]["requester"] == "brandweer"
    assert all(o.automatic for o in site.desk.open)  # the policy's own one at most
    site.clock.t += 10
    refused(site, site.desk.tick(NOW), "brandweer", "not co-signed by gemeente in time")
    cosign = {"request_id": "r-1", "actor": "gemeente", "requester": "brandweer", "site": SITE, "gateway": GW}
    cosign["issued"] = NOW.isoformat()
    refused(site, site.send(COSIGN, "gemeente", cosign), "gemeente", "no request with that id")
    refused(site, site.send(REQUEST, "brandweer", good), "brandweer", "replayed")

    second = {**good, "request_id": "r-2"}
    site.send(REQUEST, "brandweer", second)
    refused(
        site,
        site.send(COSIGN, "politie", {**cosign, "request_id": "r-2", "actor": "politie"}),
        "politie",
        "co-signer",
    )
    out = site.send(COSIGN, "gemeente", {**cosign, "request_id": "r-2"})
    assert [a["status"] for a in replies(out, "brandweer")] == ["opened"]
    assert [a["status"] for a in replies(out, "gemeente")] == ["opened"]
    opened = site.audited("escalation.opened")[-1]
    assert (
        opened["actor"] == "brandweer" and opened["co_signed_by"] == "gemeente" and opened["duration_s"] == 3
    )
    assert site.taps["hall"].until == site.clock() + 3


def test_an_open_escalation_feeds_through_the_door_and_closes_at_its_deadline(site: Site) -> None:
    event = site.fall()  # the ambulance's automatic escalation: 2 s
    site.desk.tick(NOW)
    assert [o.actor for o in site.desk.open] == ["ambulance"]
    assert site.taps["hall"].until == site.clock() + 2
    feed_topic = Topics("city", SITE, GW).escalation_feed("ambulance")
    people = (PersonSample(7, POSE, False, 0.0123, True), PersonSample(9, (), True, 1.234, False))
    sent = []
    for _ in range(5):
        site.desk.take(SceneSample("hall", NOW, people))
        site.desk.take(SceneSample("gang", NOW, people))  # another camera: not this escalation's
        sent += [p for p in site.desk.tick(NOW) if p.topic == feed_topic]
        site.clock.t += 0.3
    assert len(sent) == 5
    bodies = [json.loads(p.payload) for p in sent]
    for body in bodies:
        assert check_message(feed_topic, json.dumps(body).encode()).kind == "escalation_feed"
    assert [b["seq"] for b in bodies] == [0, 1, 2, 3, 4]
    first = bodies[0]
    assert first["count"] == 2 and first["others_present"] is True
    assert [p["person"] for p in first["people"]] == [1, 2]
    assert first["people"][0]["keypoints"][3] == [0.5, 0.22, 0.9]
    assert first["people"][0]["motion"] == 0.0 and first["people"][1]["motion"] == 1.25
    site.clock.t += 1.0
    out = site.desk.tick(NOW)
    assert [a["status"] for a in replies(out, "ambulance")] == ["closed"]
    assert site.taps["hall"].until == float("-inf") and not site.desk.open
    site.desk.take(SceneSample("hall", NOW, people))
    assert not [p for p in site.desk.tick(NOW) if p.topic == feed_topic]
    closed = site.audited("escalation.closed")[-1]
    assert closed["messages"] == 5 and closed["people"] == 2 and closed["request_id"] == ""
    assert {"keypoints", "motion", "others_present"} <= set(closed["fields"])
    assert site.desk.counts.tallies["ambulance"].automatic == 1
    del event


def test_the_month_that_ended_is_counted_for_residents(site: Site) -> None:
    site.fall()
    site.desk.tick(NOW)
    site.clock.t += 3
    site.desk.tick(NOW)
    events = site.desk.counts.roll(NOW + timedelta(days=5), GW, ["ambulance", "brandweer"])
    by_actor = {e.data["escalating_actor"]: dict(e.data) for e in events}
    assert by_actor["ambulance"] == {
        "month": "2026-11",
        "escalating_actor": "ambulance",
        "escalations": 1,
        "automatic": 1,
        "co_signed": 0,
        "seconds": 3,
    }
    assert by_actor["brandweer"]["escalations"] == 0
    assert all(e.type == "escalation.monthly" and e.time == datetime(2026, 12, 1, tzinfo=UTC) for e in events)
    assert site.desk.counts.roll(NOW + timedelta(days=6), GW, ["ambulance"]) == []
