"""Home Assistant discovery through a broker that enforces the generated ACL, over mutual TLS.

Scenario: a signed policy turns discovery on for the fire brigade (`brandweer`, under the prefix
`ha`) and not for the ambulance, though both are granted falls. `edge-gateway broker-acl` writes the
ACL from it; Mosquitto requires client certificates. A gateway with a fall camera and a quay's
water-level sensor (neither device present: they stay offline, which changes nothing here) runs
in-process. The fire brigade's Home Assistant would subscribe to its namespace and the gateway's
status: it receives valid retained configs and `online`. Then a fall is confirmed, the water
reaches the warning level and clears: each event message it receives, on a topic its entities read,
renders through their templates to the state Home Assistant should show. The ambulance, subscribed
to everything it might try, receives its fall event and nothing else: no config, no status.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import topic_matches_sub
from ruamel.yaml import YAML
from typer.testing import CliRunner

from gateway import service
from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.config import load_config
from gateway.messages import Event
from gateway.security.signing import ManifestSpec, generate_signing_key, sign_manifest
from gateway.tools.cli import app
from gateway.tools.pki import identity_actor, identity_gateway
from gateway.trust import Trusted, load_models, load_policy
from tests.contract import check_message, render_state
from tests.secure_broker import Ca, SecureMosquitto, TlsClient, issue

POLICY = """\
version: ha-test-1
actors:
  brandweer:
    purpose: Responding to flooding and to people who fell
    home_assistant: {discovery: true, discovery_prefix: ha}
    grants:
      - events: [flood.warning, flood.alarm, flood.cleared]
        fields: [level, depth_mm]
        round: {depth_mm: 10}
      - events: [fall.confirmed]
        fields: [zone]
  ambulance:
    purpose: Reaching people who have fallen
    grants:
      - events: [fall.*]
        fields: [zone]
"""
SITE, GW = "site-a", "gw-1"
STATUS = f"city/v1/{SITE}/{GW}/status"
CONFIGS = f"city/v1/brandweer/ha/+/{SITE}__{GW}/+/config"


def write_site(tmp_path: Path, ca: Ca) -> Path:
    """A signed policy, the gateway's certificate and its config file."""
    key, pub = tmp_path / "release.pem", tmp_path / "release.pub.pem"
    generate_signing_key(key, pub)
    (tmp_path / "policy").mkdir()
    policy = tmp_path / "policy" / "policy.yaml"
    policy.write_text(POLICY)
    sign_manifest(
        ManifestSpec(policy.parent, [policy], "policy", "ha-test-1"), key, policy.parent / "MANIFEST.json"
    )
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
        "trust": {"public_key": str(pub)},
        "health_interval_s": 0.5,
        "sensors": [
            {
                "id": "kade",
                "type": "maxbotix",
                "port": str(tmp_path / "no-such-port"),
                "mount_height_mm": 2000,
                "levels": {"watch": 100, "warning": 300, "alarm": 500},
            }
        ],
        "cameras": [{"id": "hall", "url": str(tmp_path / "no-such-camera.mp4")}],
    }
    path = tmp_path / "gateway.yaml"
    with path.open("w") as fh:
        YAML(typ="safe", pure=True).dump(config, fh)
    return path


def topics(client: TlsClient) -> list[str]:
    return [t for t, _ in client.state.messages]


@pytest.fixture
def ca(tmp_path: Path) -> Ca:
    return Ca.create(tmp_path / "ca")


class Site:
    """The broker with the ACL `edge-gateway broker-acl` wrote, and a gateway ready to run against it."""

    def __init__(self, broker: SecureMosquitto, gateway: Gateway) -> None:
        self.broker, self.gateway = broker, gateway
        self.stop = threading.Event()
        self.runner = threading.Thread(target=service.run, args=(gateway, self.stop, {}), daemon=True)


@pytest.fixture
def site(tmp_path: Path, ca: Ca) -> Iterator[Site]:
    """The broker, started; the gateway, built (the test starts its runner once subscribed)."""
    path = write_site(tmp_path, ca)
    result = CliRunner().invoke(app, ["broker-acl", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"topic read {STATUS}" in result.output  # the fire brigade's availability
    broker = SecureMosquitto(tmp_path / "broker", ca, result.output).start()
    config = load_config(path)
    config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"port": broker.port})})
    loaded = load_policy(config.policy, config.trust.public_key)
    trusted = Trusted(config.trust.public_key, config.policy, None, loaded, load_models())
    config.storage.mkdir(parents=True)
    running = Site(broker, Gateway(config, trusted, AuditLog(config.storage / "audit.jsonl")))
    try:
        yield running
    finally:
        running.stop.set()
        if running.runner.is_alive():
            running.runner.join(10)
        broker.stop()


def test_the_actor_that_asked_gets_valid_configs_and_states_the_other_nothing(
    site: Site, ca: Ca, tmp_path: Path
) -> None:
    broker, gateway = site.broker, site.gateway
    brandweer = TlsClient(broker, issue(ca, tmp_path / "a", identity_actor("brandweer"))).connect()
    ambulance = TlsClient(broker, issue(ca, tmp_path / "b", identity_actor("ambulance"))).connect()
    try:
        brandweer.subscribe("city/v1/brandweer/#", STATUS)
        ambulance.subscribe("city/v1/ambulance/#", STATUS, "city/v1/+/ha/#", "city/v1/+/homeassistant/#")
        site.runner.start()

        assert brandweer.wait(lambda s: sum(topic_matches_sub(CONFIGS, t) for t, _ in s.messages) >= 4, 20), (
            broker.log()[-2000:]
        )
        assert brandweer.wait(lambda s: (STATUS, b"online") in s.messages, 10)
        configs = {t: p for t, p in brandweer.state.messages if topic_matches_sub(CONFIGS, t)}
        for topic, payload in configs.items():
            assert check_message(topic, payload).kind == "discovery"
            body = json.loads(payload)
            assert {"name", "unique_id", "state_topic", "value_template", "availability", "device"} <= set(
                body
            )
            assert body["availability"][0]["topic"] == STATUS
        assert sorted(t.split("/")[-2] for t in configs) == ["depth_mm", "fall", "flood", "flood_level"]
        entities = {t.split("/")[-2]: json.loads(p) for t, p in configs.items()}

        sent = [
            Event("fall.confirmed", "hall", {"zone": "hall", "confidence": 0.92, "down_s": 12.0}),
            Event("flood.warning", "kade", {"level": "warning", "previous": "watch", "depth_mm": 318.0}),
            Event("flood.cleared", "kade", {"level": "none", "previous": "warning", "depth_mm": 42.0}),
        ]
        for event in sent:
            gateway._emit(event)
        assert brandweer.wait(lambda s: sum("/events/" in t for t, _ in s.messages) >= 3, 20)
        assert ambulance.wait(lambda s: any(t.endswith("/events/fall.confirmed") for t, _ in s.messages), 20)

        states = states_of(entities, [(t, p) for t, p in brandweer.state.messages if "/events/" in t])
        assert states["fall"] == ["ON"]
        assert states["flood"] == ["ON", "OFF"]
        assert states["flood_level"] == ["warning", "none"]
        assert states["depth_mm"] == ["320.0", "40.0"]
        # The ambulance's control event came after every retained config and the status: none reached it.
        assert topics(ambulance) == [f"city/v1/ambulance/{SITE}/{GW}/events/fall.confirmed"], topics(
            ambulance
        )
    finally:
        brandweer.close()
        ambulance.close()


def states_of(entities: dict[str, dict[str, Any]], messages: list[tuple[str, bytes]]) -> dict[str, list[str]]:
    """Entity -> the states Home Assistant would set from these messages, in order (empty: ignored)."""
    out: dict[str, list[str]] = {key: [] for key in entities}
    for topic, payload in messages:
        for key, entity in entities.items():
            if topic_matches_sub(entity["state_topic"], topic):
                state = render_state(entity["value_template"], payload)
                if state:
                    out[key].append(state)
    return out
