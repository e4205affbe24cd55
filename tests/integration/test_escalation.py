"""Break-glass escalations through a broker that enforces the generated ACL, over mutual TLS.

Scenario: a signed test policy lets the ambulance escalate after `fall.confirmed` for at most 2 s
(one feed message per 0.2 s) and the fire brigade too, but only co-signed by the municipality
(`gemeente`) within 1.5 s; the police receive falls and may not escalate. `edge-gateway broker-acl`
writes the ACL; Mosquitto requires client certificates. A gateway runs in-process with a real
MJPEG camera (`hall`: someone falls on a rug, in a loop, run through the shipped models) and a
second camera that never connects (`gang`). A `fall.confirmed` on `hall` is handed to the gateway;
each actor takes the event's id from the message it received.

Then, over the broker: unsigned, wrongly signed, wrong-actor, expired, wrong-camera, single-signed
(where dual control is required) and replayed requests are refused, each with an answer on the
sender's own topic and an audit record; the police cannot even publish a request. A valid request
opens the ambulance's feed; the signed request -> first feed message time is printed (escalation
latency); the feed stops at the deadline; a co-signed request opens the fire brigade's. Every feed
payload is checked byte by byte: text, JSON, schema-valid, no string at all, no image magic, no
base64 run. Neither the co-signer nor an operator reading `#` receives a feed (Mosquitto `deny`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ruamel.yaml import YAML
from typer.testing import CliRunner

from gateway import service
from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.config import load_config
from gateway.messages import Event
from gateway.security.signed_message import sign_body
from gateway.security.signing import ManifestSpec, generate_signing_key, sign_manifest
from gateway.tools.cli import app
from gateway.tools.pki import identity_actor, identity_gateway, identity_operator
from gateway.trust import Trusted, _stamp, load_models, load_policy
from sim.video import load_scene, scene_path
from sim.video.server import MjpegServer
from tests.contract import check_message
from tests.secure_broker import NOT_AUTHORIZED, Ca, SecureMosquitto, TlsClient, issue

pytestmark = pytest.mark.integration

POLICY = """\
version: escalation-test-1
actors:
  ambulance:
    purpose: Reaching people who have fallen
    grants:
      - events: [fall.confirmed]
        fields: [zone]
        include: [source]
    escalation: {events: [fall.confirmed], max_s: 2, interval_s: 0.2}
  brandweer:
    purpose: Responding to people who have fallen
    grants:
      - events: [fall.confirmed]
        fields: [zone]
        include: [source]
    escalation: {events: [fall.confirmed], max_s: 2, co_sign: gemeente, co_sign_within_s: 1.5, interval_s: 0.2}
  gemeente:
    purpose: Operating the network and co-signing escalations
    grants:
      - events: [camera.online]
        include: [source]
  politie:
    purpose: Knowing that someone fell, for this test
    grants:
      - events: [fall.confirmed]
        fields: [zone]
"""
SITE, GW, CAMERA = "site-a", "gw-1", "hall"
ACTORS = ("ambulance", "brandweer", "gemeente", "politie")
BASE = f"city/v1/{SITE}/{GW}"
LONG_BASE64 = re.compile(rb"[A-Za-z0-9+/=_-]{201,}")
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF")


def request_topic(actor: str) -> str:
    return f"{BASE}/escalation/{actor}/request"


def feed_topic(actor: str) -> str:
    return f"city/v1/{actor}/{SITE}/{GW}/escalation/feed"


def reply_topic(actor: str) -> str:
    return f"city/v1/{actor}/{SITE}/{GW}/replies/escalation"


def write_site(tmp_path: Path, ca: Ca, camera_url: str) -> tuple[Path, dict[str, Ed25519PrivateKey]]:
    """A signed policy, actor keys, the gateway's certificate and its config file."""
    key, pub = tmp_path / "release.pem", tmp_path / "release.pub.pem"
    generate_signing_key(key, pub)
    (tmp_path / "policy").mkdir()
    policy = tmp_path / "policy" / "policy.yaml"
    policy.write_text(POLICY)
    spec = ManifestSpec(policy.parent, [policy], "policy", "escalation-test-1")
    sign_manifest(spec, key, policy.parent / "MANIFEST.json")
    keys = {name: Ed25519PrivateKey.generate() for name in ACTORS}
    for name, private in keys.items():
        public = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        (tmp_path / f"{name}.pub.pem").write_bytes(public)
    creds = issue(ca, tmp_path / "gw", identity_gateway(SITE, GW))
    config = {
        "site": SITE,
        "gateway": GW,
        "mqtt": {
            "host": "127.0.0.1",
            "port": 1,  # the broker's port is known once it runs
            "prefix": "city",
            "tls": {"ca": str(ca.cert), "cert": str(creds.cert), "key": str(creds.key)},
        },
        "storage": str(tmp_path / "storage"),
        "policy": str(policy),
        "trust": {"public_key": str(pub), "actors": {n: str(tmp_path / f"{n}.pub.pem") for n in ACTORS}},
        "health_interval_s": 0.5,
        "cameras": [
            {
                "id": CAMERA,
                "url": camera_url,
                "zones": [{"name": "rug", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            },
            {"id": "gang", "url": str(tmp_path / "no-such-camera.mp4")},
        ],
    }
    path = tmp_path / "gateway.yaml"
    with path.open("w") as fh:
        YAML(typ="safe", pure=True).dump(config, fh)
    return path, keys


class Site:
    def __init__(self, broker: SecureMosquitto, gateway: Gateway, keys: dict[str, Ed25519PrivateKey]) -> None:
        self.broker, self.gateway, self.keys = broker, gateway, keys
        self.stop = threading.Event()
        self.runner = threading.Thread(target=service.run, args=(gateway, self.stop, {}), daemon=True)
        self.clients: dict[str, TlsClient] = {}

    def audited(self, kind: str) -> list[dict[str, Any]]:
        path = self.gateway.config.storage / "audit.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return [r["detail"] for r in records if r["kind"] == kind]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ca = Ca.create(tmp_path / "ca")
    camera = MjpegServer({CAMERA: load_scene(scene_path("fall_forward"))}).start()
    path, keys = write_site(tmp_path, ca, camera.url(CAMERA))
    result = CliRunner().invoke(app, ["broker-acl", "--config", str(path), "--operator", "ops"])
    assert result.exit_code == 0, result.output
    assert f"topic write {request_topic('ambulance')}" in result.output
    assert f"topic write {BASE}/escalation/gemeente/cosign" in result.output
    assert "topic deny city/v1/+/+/+/escalation/feed" in result.output
    broker = SecureMosquitto(tmp_path / "broker", ca, result.output).start()
    config = load_config(path)
    config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"port": broker.port})})
    loaded = load_policy(config.policy, config.trust.public_key)
    trusted = Trusted(config.trust.public_key, config.policy, None, loaded, load_models())
    # As Trusted.load would, but the shipped models stay under the release key: files as they are now.
    trusted._stamps = {"policy": _stamp(trusted._policy_files()), "models": _stamp(trusted._model_files())}
    config.storage.mkdir(parents=True)
    running = Site(broker, Gateway(config, trusted, AuditLog(config.storage / "audit.jsonl")), keys)
    for name in ACTORS:
        running.clients[name] = TlsClient(broker, issue(ca, tmp_path / name, identity_actor(name))).connect()
    running.clients["ops"] = TlsClient(
        broker, issue(ca, tmp_path / "ops", identity_operator("ops"))
    ).connect()
    try:
        yield running
    finally:
        running.stop.set()
        if running.runner.is_alive():
            running.runner.join(10)
        for client in running.clients.values():
            client.close()
        broker.stop()
        camera.stop()


def messages(client: TlsClient, topic: str) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p in list(client.state.messages) if t == topic]


def audit_feed_payload(topic: str, payload: bytes) -> dict[str, Any]:
    """No image bytes, no string, nothing the feed schema does not name."""
    payload.decode("utf-8")
    for magic in IMAGE_MAGIC:
        assert magic not in payload
    assert not LONG_BASE64.search(payload)
    assert check_message(topic, payload).kind == "escalation_feed"
    body: dict[str, Any] = json.loads(payload)

    def walk(value: object) -> None:
        assert not isinstance(value, str), f"a string in a feed: {value!r}"
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(body)
    return body


class Requests:
    """Signed requests as the actors make them."""

    def __init__(self, site: Site, event_ids: dict[str, str]) -> None:
        self.site, self.event_ids = site, event_ids

    def body(self, actor: str, request_id: str, **change: Any) -> dict[str, Any]:
        body = {
            "request_id": request_id,
            "actor": actor,
            "site": SITE,
            "gateway": GW,
            "camera": CAMERA,
            "event_id": self.event_ids.get(actor, ""),
            "duration_s": 60,
            "issued": datetime.now(UTC).isoformat(),
        }
        return {**body, **change}

    def send(self, topic_actor: str, payload: bytes) -> int:
        return self.site.clients[topic_actor].publish(request_topic(topic_actor), payload)

    def answer(self, actor: str, request_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        client = self.site.clients[actor]

        def found(_: object) -> bool:
            return any(
                r["request_id"] == request_id and r["status"] == status
                for r in messages(client, reply_topic(actor))
            )

        assert client.wait(found, timeout), (request_id, status, messages(client, reply_topic(actor)))
        return next(
            r
            for r in messages(client, reply_topic(actor))
            if r["request_id"] == request_id and r["status"] == status
        )


def test_break_glass_refusals_feed_expiry_and_dual_control(site: Site) -> None:
    clients = site.clients
    for name in ACTORS:
        clients[name].subscribe(f"city/v1/{name}/#")
    clients["ops"].subscribe("city/v1/#")
    site.runner.start()
    online = f"city/v1/gemeente/{SITE}/{GW}/events/camera.online"
    assert clients["gemeente"].wait(lambda s: any(t == online and b'"hall"' in p for t, p in s.messages), 30)

    site.gateway._emit(Event("fall.confirmed", CAMERA, {"camera": CAMERA, "zone": "rug", "confidence": 0.9}))
    fall = f"city/v1/{{}}/{SITE}/{GW}/events/fall.confirmed"
    ids = {}
    for actor in ("ambulance", "brandweer"):
        assert clients[actor].wait(lambda s, a=actor: any(t == fall.format(a) for t, _ in s.messages), 10)
        ids[actor] = messages(clients[actor], fall.format(actor))[0]["id"]
        assert messages(clients[actor], fall.format(actor))[0]["source"] == CAMERA
    make = Requests(site, ids)
    keys = site.keys

    # Refused, each answered on the sender's own topic and audited.
    stale = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    refusals = {
        "unsigned": ("ambulance", json.dumps(make.body("ambulance", "unsigned")).encode(), "fields"),
        "forged": (
            "ambulance",
            sign_body(make.body("ambulance", "forged"), keys["politie"]),
            "bad signature",
        ),
        "other-actor": (
            "ambulance",
            sign_body(make.body("brandweer", "other-actor"), keys["brandweer"]),
            "wrong actor",
        ),
        "expired": (
            "ambulance",
            sign_body(make.body("ambulance", "expired", issued=stale), keys["ambulance"]),
            "expired",
        ),
        "wrong-camera": (
            "ambulance",
            sign_body(make.body("ambulance", "wrong-camera", camera="gang"), keys["ambulance"]),
            "wrong camera",
        ),
        "not-yours": (
            "ambulance",
            sign_body(make.body("ambulance", "not-yours", event_id=ids["brandweer"]), keys["ambulance"]),
            "no event of yours",
        ),
    }
    for actor, payload, _ in refusals.values():
        assert make.send(actor, payload) == 0
    for request_id, (actor, _, words) in refusals.items():
        answer = make.answer(actor, request_id, "refused")
        assert words in answer["detail"], (request_id, answer)
    # The police may not escalate: the broker refuses their request on their own and on others' topics.
    police = sign_body(make.body("politie", "police"), keys["politie"])
    assert clients["politie"].publish(request_topic("politie"), police) == NOT_AUTHORIZED
    assert clients["politie"].publish(request_topic("ambulance"), police) == NOT_AUTHORIZED

    # Single-signed where dual control is required: refused at the co-signing deadline.
    make.send("brandweer", sign_body(make.body("brandweer", "alone"), keys["brandweer"]))
    make.answer("brandweer", "alone", "awaiting_co_sign")
    make.answer("gemeente", "alone", "co_sign_requested")
    assert "not co-signed by gemeente in time" in make.answer("brandweer", "alone", "refused", 5)["detail"]

    # A valid request opens the ambulance's feed; latency: signed request -> first feed message.
    valid = sign_body(make.body("ambulance", "valid"), keys["ambulance"])
    sent_at = time.monotonic()
    make.send("ambulance", valid)
    assert clients["ambulance"].wait(lambda s: any(t == feed_topic("ambulance") for t, _ in s.messages), 10)
    latency_s = time.monotonic() - sent_at
    print(f"\nescalation latency (signed request -> first feed message): {latency_s * 1000:.0f} ms")
    opened = make.answer("ambulance", "valid", "opened")
    assert opened["duration_s"] == 2 and opened["camera"] == CAMERA  # capped by the policy's max_s
    closed = make.answer("ambulance", "valid", "closed", 10)
    assert closed["escalation"] == opened["escalation"]
    replayed = sign_body(make.body("ambulance", "valid"), keys["ambulance"])
    make.send("ambulance", replayed)  # also the positive control: it is answered after the last feed message
    assert "replayed" in make.answer("ambulance", "valid", "refused")["detail"]
    stream = [
        (t, p)
        for t, p in list(clients["ambulance"].state.messages)
        if t in (feed_topic("ambulance"), reply_topic("ambulance"))
    ]
    feed = [audit_feed_payload(t, p) for t, p in stream if t == feed_topic("ambulance")]
    closed_at = next(
        i
        for i, (t, p) in enumerate(stream)
        if t == reply_topic("ambulance") and json.loads(p)["status"] == "closed"
    )
    assert all(t != feed_topic("ambulance") for t, _ in stream[closed_at:]), (
        "feed after the escalation closed"
    )
    assert [b["seq"] for b in feed] == list(range(len(feed)))
    assert 5 <= len(feed) <= 11, len(feed)  # 2 s at one message per 0.2 s
    assert all(b["t_s"] <= 2.0 and b["escalation"] == opened["escalation"] for b in feed)
    assert any(b["count"] >= 1 and b["people"] and len(b["people"][0]["keypoints"]) == 17 for b in feed), (
        feed[:2]
    )

    # Dual control: co-signed by the municipality in time, the fire brigade's feed opens.
    make.send("brandweer", sign_body(make.body("brandweer", "together", duration_s=1), keys["brandweer"]))
    make.answer("gemeente", "together", "co_sign_requested")
    cosign = {
        "request_id": "together",
        "actor": "gemeente",
        "requester": "brandweer",
        "site": SITE,
        "gateway": GW,
    }
    cosign["issued"] = datetime.now(UTC).isoformat()
    assert (
        clients["gemeente"].publish(f"{BASE}/escalation/gemeente/cosign", sign_body(cosign, keys["gemeente"]))
        == 0
    )
    assert make.answer("brandweer", "together", "opened")["detail"] == "co-signed by gemeente"
    make.answer("brandweer", "together", "closed", 10)
    fire = [
        audit_feed_payload(t, p)
        for t, p in list(clients["brandweer"].state.messages)
        if t == feed_topic("brandweer")
    ]
    assert fire, "no feed for the fire brigade"

    # Nobody else saw a feed: not the co-signer, not an operator reading everything.
    for name in ("gemeente", "politie", "ops"):
        assert not [t for t, _ in clients[name].state.messages if t.endswith("/escalation/feed")], name
    # Positive control: the operator got the answer the gateway sent after the ambulance's last feed message.
    ops = clients["ops"]
    assert any(t == reply_topic("ambulance") and b'"closed"' in p for t, p in ops.state.messages)

    # Audited: every message received, every refusal, who opened for how long and what was sent.
    assert len(site.audited("escalation.requested")) >= len(refusals) + 5
    errors = [r["error"] for r in site.audited("escalation.refused")]
    for _, _, words in refusals.values():
        assert any(words in e for e in errors), words
    opened_records = {r["request_id"]: r for r in site.audited("escalation.opened")}
    assert (
        opened_records["together"]["co_signed_by"] == "gemeente"
        and opened_records["valid"]["co_signed_by"] is None
    )
    closed_records = {r["request_id"]: r for r in site.audited("escalation.closed")}
    assert closed_records["valid"]["messages"] == len(feed) and closed_records["together"]["messages"] == len(
        fire
    )
    assert "keypoints" in closed_records["valid"]["fields"]
