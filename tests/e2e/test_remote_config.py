"""Remote configuration over MQTT: only a signed, fresh, authorised, valid command changes anything.

Scenario: a gateway runs a simulated site; the operator `beheer` sends a signed command that widens
the air window; then a stream of hostile and malformed commands follows (bad signature, unknown
operator, a key that is not remotely configurable, another gateway's command, a stale one, a replay,
invalid values, garbage, an oversized payload). Each is answered `refused`, the config file keeps the
first change only, the audit log records every attempt, and the gateway keeps publishing events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from gateway.audit_chain import verify_chain
from gateway.commands import sign_command
from gateway.config import load_config
from gateway.security.signing import generate_signing_key, load_private_key
from sim.broker import Mosquitto
from tests.e2e.harness import SiteRun


@pytest.fixture
def operator_key(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    private, public = tmp_path / "beheer.pem", tmp_path / "beheer.pub.pem"
    generate_signing_key(private, public)
    return load_private_key(private), public


@pytest.fixture
def run(tmp_path: Path, broker: Mosquitto, operator_key: tuple[Ed25519PrivateKey, Path]) -> Iterator[SiteRun]:
    site_run = SiteRun(tmp_path, broker, "default", 60, trust={"operators": {"beheer": str(operator_key[1])}})
    yield site_run
    site_run.close()


def command(run: SiteRun, changes: dict[str, Any], **override: Any) -> dict[str, Any]:
    config = run.site.gateway_config("", 0, run.storage)
    body = {
        "command_id": str(uuid.uuid4()),
        "operator": "beheer",
        "site": config["site"],
        "gateway": config["gateway"],
        "issued": datetime.now(UTC).isoformat(),
        "set": changes,
    }
    return body | override


def send(broker: Mosquitto, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def replies(run: SiteRun) -> list[dict[str, Any]]:
    return [m.json() for m in run.recorder.messages if m.topic.endswith("/replies/config")]


def test_only_signed_valid_commands_change_the_config(
    run: SiteRun, broker: Mosquitto, operator_key: tuple[Ed25519PrivateKey, Path]
) -> None:
    key, _ = operator_key
    stranger = Ed25519PrivateKey.generate()
    run.start()
    run.recorder.wait_for(lambda m: any("/events/" in x.topic for x in m))
    site = run.site.gateway_config("", 0, run.storage)
    topic = f"city/v1/{site['site']}/{site['gateway']}/commands/config"

    good = command(run, {"air": {"window_s": 600}})
    send(broker, topic, [sign_command(good, key)])
    run.recorder.wait_for(lambda _m: len(replies(run)) >= 1)
    assert replies(run)[0] == {
        "schema_version": 1,
        "command_id": good["command_id"],
        "status": "applied",
        "detail": "air",
    }
    assert load_config(run.config).air.window_s == 600
    assert load_config(run.config).air.co2_levels_ppm == (800, 1200)  # merged, not replaced

    stale = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    hostile = [
        sign_command(command(run, {"air": {"window_s": 1}}), stranger),  # not beheer's key
        sign_command(command(run, {"air": {"window_s": 1}}, operator="mallory"), key),
        sign_command(command(run, {"sensors": []}), key),  # not remotely configurable
        sign_command(command(run, {"air": {"window_s": 1}}, gateway="gw-other"), key),
        sign_command(command(run, {"air": {"window_s": 1}}, issued=stale), key),
        sign_command(good, key),  # replay
        sign_command(command(run, {"air": {"window_s": -5}}), key),  # invalid value
        sign_command(command(run, {"air": {"co2_levels_ppm": [1200, 800]}}), key),
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        b"{" * 100_000,
        json.dumps({**command(run, {}), "signature": "!!"}).encode(),
    ]
    send(broker, topic, hostile)
    run.recorder.wait_for(lambda _m: len(replies(run)) >= 1 + len(hostile))
    statuses = [r["status"] for r in replies(run)]
    assert statuses == ["applied"] + ["refused"] * len(hostile), replies(run)
    assert load_config(run.config).air.window_s == 600

    before = len(run.events())
    run.wait_scenario(1500)
    assert len(run.events()) > before, "the gateway stopped publishing after hostile commands"
    assert run.stop_gateway() == 0, run.log_tail()
    audit_lines = (run.storage / "audit.jsonl").read_text().splitlines()
    kinds = [json.loads(line)["kind"] for line in audit_lines]
    assert kinds.count("command.received") == 1 + len(hostile)
    assert kinds.count("config.changed") == 1
    assert kinds.count("config.refused") == len(hostile)
    assert verify_chain(run.storage / "audit.jsonl").intact
