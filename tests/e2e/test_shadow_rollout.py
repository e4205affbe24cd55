"""Shadow rollout with automatic rollback, and actors' feedback, on a real broker with a live camera.

Scenario: a simulated camera of a hall where someone falls, in a loop (fall_forward). The gateway
trusts a throw-away release key (the shipped models and policy are re-signed with it; the ambulance's
grant also shows the `model`, so the test can tell which bundle decided an event) and runs the
baseline fall detector. Bundles go in with `edge-gateway bundle install`.

1. A bundle too strict to alarm (threshold 0.9999) runs in shadow on the same frames: the operator's
   comparison counts the hall's falls as found only by the active detector, none by both or by the
   shadow alone, and gives the shadow's CPU cost.
2. The ambulance marks a fall as a true alarm (signed, on its own feedback topic); hostile marks
   (stranger's key, an id it never received, a replay, garbage, oversize, stale, a bad reason, another
   actor's name) are each answered `refused`, naming nothing but the ambulance's own marks.
3. The operator promotes the strict bundle with a signed command (the baseline is kept to roll back to).
4. A flooding bundle (the INT8 fall model, threshold 0.02, one window) runs in shadow: its falls are
   counted as found only in shadow, and none of them reaches the ambulance (no event carries its
   model). Promoted by the operator, its falls reach the ambulance, which marks one a false alarm:
   past the bundle's budget (0) the gateway rolls back to the previous (strict) bundle by itself and
   tells the operator once.
5. A bundle with rules for automatic promotion is promoted by those rules.
6. After a restart the rollout and the feedback counts are as they were; `register` shows them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from ruamel.yaml import YAML

from gateway.audit_chain import verify_chain
from gateway.privacy.policy import DEFAULT_POLICY
from gateway.security.signing import (
    ManifestSpec,
    generate_signing_key,
    load_private_key,
    sign_manifest,
    verify_manifest,
)
from gateway.shipped import models_dir
from gateway.signed_inbox import sign_message
from sim.broker import Mosquitto
from sim.video import load_scene, scene_path
from sim.video.server import MjpegServer
from tests.e2e.harness import BIN, SiteRun

JPEG, PNG = b"\xff\xd8\xff", b"\x89PNG"
REPORT_S = 4.0


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Throw-away keys: the release key (signs models, policy, bundles), an operator, the ambulance."""
    out = {}
    for name in ("release", "beheer", "ambulance"):
        generate_signing_key(tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem")
        out[name], out[f"{name}.pub"] = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
    return out


def resign(tmp_path: Path, release: Path) -> tuple[Path, Path]:
    """Copies of the shipped models and policy, signed with the throw-away release key."""
    shipped = verify_manifest(models_dir() / "MANIFEST.json", models_dir() / "release.pub.pem")
    models = tmp_path / "models"
    for name in shipped.files:
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(models_dir() / name, models / name)
    sign_manifest(
        ManifestSpec(models, [Path(f) for f in shipped.files], "models", "test-models"),
        release,
        models / "MANIFEST.json",
    )
    policy = tmp_path / "policy" / "policy.yaml"
    policy.parent.mkdir()
    # The ambulance is also told which model decided: that tells the two bundles' events apart here.
    shipped_policy = DEFAULT_POLICY.read_text()
    ambulance = "fields: [zone, confidence, time_of_fall, fall_id]\n        round: {confidence: 0.1}\n        include: [site, source]"
    assert ambulance in shipped_policy
    policy.write_text(
        shipped_policy.replace(ambulance, ambulance.replace("[site, source]", "[site, source, model]"))
    )
    sign_manifest(
        ManifestSpec(policy.parent, [policy], "policy", "test-policy"),
        release,
        policy.parent / "MANIFEST.json",
    )
    return models, policy


def make_bundle(
    root: Path, release: Path, version: str, spec: dict[str, Any], model: Path | None = None
) -> Path:
    """A bundle directory signed with the release key."""
    directory = root / version
    directory.mkdir(parents=True)
    with (directory / "bundle.yaml").open("w") as fh:
        YAML(typ="safe", pure=True).dump({"version": version, **spec}, fh)
    files = [Path("bundle.yaml")]
    if model is not None:
        (directory / "fall").mkdir()
        shutil.copy(model, directory / "fall" / "fall_model.onnx")
        files.append(Path("fall/fall_model.onnx"))
    sign_manifest(ManifestSpec(directory, files, "bundle", version), release, directory / "MANIFEST.json")
    return directory


def whole_frame(name: str) -> dict[str, Any]:
    return {"name": name, "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    server = MjpegServer({"hall": load_scene(scene_path("fall_forward"))}, time_scale=1.0).start()
    yield server
    server.stop()


@pytest.fixture
def run(tmp_path: Path, broker: Mosquitto, camera: MjpegServer, keys: dict[str, Path]) -> Iterator[SiteRun]:
    models, policy = resign(tmp_path, keys["release"])
    site_run = SiteRun(
        tmp_path,
        broker,
        "co2_full_room",
        50,
        cameras=[
            {
                "id": "hall",
                "url": camera.url("hall"),
                "fps": 10,
                "zones": [whole_frame("hall")],
                "fall": {"confirm_s": 5},
            }
        ],
        policy=str(policy),
        trust={
            "public_key": str(keys["release.pub"]),
            "models_dir": str(models),
            "operators": {"beheer": str(keys["beheer.pub"])},
            "actors": {"ambulance": str(keys["ambulance.pub"])},
        },
        rollout={"report_interval_s": REPORT_S, "match_window_s": 6},
    )
    yield site_run
    site_run.close()


class Site:
    """Topics and signed messages of the site under test."""

    def __init__(self, run: SiteRun, broker: Mosquitto, keys: dict[str, Path]) -> None:
        config = run.site.gateway_config("", 0, run.storage)
        self.site, self.gateway = str(config["site"]), str(config["gateway"])
        self.base = f"city/v1/{self.site}/{self.gateway}"
        self.run, self.broker = run, broker
        self.operator = load_private_key(keys["beheer"])
        self.ambulance = load_private_key(keys["ambulance"])

    def publish(self, topic: str, payloads: list[bytes]) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect(self.broker.host, self.broker.port)
        client.loop_start()
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()

    def mark(
        self, event_id: str, verdict: str, reason: str, key: Ed25519PrivateKey | None = None, **override: str
    ) -> bytes:
        body = {
            "feedback_id": str(uuid.uuid4()),
            "actor": "ambulance",
            "site": self.site,
            "gateway": self.gateway,
            "issued": datetime.now(UTC).isoformat(),
            "event_id": event_id,
            "verdict": verdict,
            "reason": reason,
        }
        return sign_message(body | override, key or self.ambulance)

    def command(self, action: str, version: str) -> bytes:
        body = {
            "command_id": str(uuid.uuid4()),
            "operator": "beheer",
            "site": self.site,
            "gateway": self.gateway,
            "issued": datetime.now(UTC).isoformat(),
            "action": action,
            "version": version,
        }
        return sign_message(body, self.operator)

    def on(self, suffix: str) -> list[dict[str, Any]]:
        return [m.json() for m in self.run.recorder.messages if m.topic.endswith(suffix)]

    def reports(self) -> list[dict[str, Any]]:
        return self.on(f"{self.base}/operator/shadow")

    def notices(self, action: str | None = None) -> list[dict[str, Any]]:
        return [n for n in self.on(f"{self.base}/operator/rollout") if action in (None, n["action"])]

    def feedback_replies(self) -> list[dict[str, Any]]:
        return self.on(f"city/v1/ambulance/{self.site}/{self.gateway}/replies/feedback")

    def falls(self, zone: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """The ambulance's fall.detected, of one camera's zone, decided by one model version."""
        return [
            e
            for e in self.run.events("ambulance")
            if e["type"] == "fall.detected"
            and zone in (None, e["data"].get("zone"))
            and model in (None, e["model"]["version"])
        ]

    def install(self, bundle: Path) -> None:
        """`edge-gateway bundle install`, then wait for the gateway to run it in shadow."""
        installed = len(self.notices("installed"))
        self.cli("bundle", "install", str(bundle))
        self.wait(lambda: len(self.notices("installed")) > installed, 20, f"{bundle.name} in shadow")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [BIN / "edge-gateway", *args, "-c", str(self.run.config)], capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.run.log_tail()}"
            assert self.run.gateway is None or self.run.gateway.poll() is None, self.run.log_tail()
            time.sleep(0.1)


def totals(reports: list[dict[str, Any]], event_type: str) -> dict[str, int]:
    out = {"in_both": 0, "only_active": 0, "only_shadow": 0}
    for report in reports:
        for name in out:
            out[name] += report["by_type"].get(event_type, {}).get(name, 0)
    return out


STRICT = {
    "description": "so strict it never alarms",
    "fall": {"threshold": 0.9999, "detect_windows": 2},
}
FLOOD = {
    "description": "fall threshold lowered: finds falls sooner, alarms more",
    "fall": {"threshold": 0.02, "detect_windows": 1},
    "rollback": {"false_alarm_budget": 0, "cpu_budget_ms_per_frame": 1000},
}
GOOD = {
    "fall": {"threshold": 0.5, "detect_windows": 2},
    "promote": {"auto": True, "min_shadow_s": 3, "max_only_in_shadow": 20, "max_missed": 20},
}


def test_shadow_rollout_promotion_feedback_and_rollback(
    tmp_path: Path, run: SiteRun, broker: Mosquitto, keys: dict[str, Path]
) -> None:
    site = Site(run, broker, keys)
    bundles, models = tmp_path / "bundles", tmp_path / "models" / "fall"
    strict = make_bundle(bundles, keys["release"], "fall-strict-1", STRICT)
    # The flooding bundle brings the INT8 fall model: another version, so its events can be told apart.
    flood = make_bundle(
        bundles, keys["release"], "fall-flood-2", FLOOD, model=models / "fall_model.int8.onnx"
    )
    flood_model = hashlib.sha256((models / "fall_model.int8.onnx").read_bytes()).hexdigest()[:12]
    good = make_bundle(bundles, keys["release"], "fall-good-3", GOOD, model=models / "fall_model.onnx")
    run.start()
    site.wait(lambda: bool(site.falls()), 90, "a fall reaching the ambulance")

    # 1. the strict bundle in shadow: every fall is the active's alone
    site.install(strict)
    site.wait(
        lambda: totals(site.reports(), "fall.detected")["only_active"] >= 1,
        90,
        "a fall only the active found",
    )
    assert totals(site.reports(), "fall.detected") | {"only_active": 0} == {
        "in_both": 0,
        "only_active": 0,
        "only_shadow": 0,
    }
    report = site.reports()[-1]
    assert report["active"] == "baseline" and report["shadow"] == "fall-strict-1"
    assert report["cost"]["shadow"]["frames"] > 0 and report["cost"]["shadow"]["cpu_ms_per_frame"] > 0

    # 2. feedback: a true alarm accepted; hostile marks refused, each answered
    hall_fall = site.falls()[0]["id"]  # decided by the baseline
    accepted = site.mark(hall_fall, "true_alarm", "confirmed_on_scene")
    feedback = f"{site.base}/feedback/ambulance"
    site.publish(feedback, [accepted])
    site.wait(lambda: len(site.feedback_replies()) >= 1, 20, "the answer to a mark")
    assert site.feedback_replies()[0]["status"] == "accepted"
    stale = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    hostile = [
        site.mark(hall_fall, "false_alarm", "no_person", key=Ed25519PrivateKey.generate()),
        site.mark("0" * 32, "false_alarm", "no_person"),
        accepted,
        b"\xff not json",
        b"{" * 10_000,
        site.mark(hall_fall, "false_alarm", "no_person", issued=stale),
        site.mark(hall_fall, "false_alarm", "because"),
        site.mark(hall_fall, "false_alarm", "no_person", actor="politie"),
    ]
    site.publish(feedback, hostile)
    site.wait(lambda: len(site.feedback_replies()) >= 1 + len(hostile), 20, "answers to hostile marks")
    assert [r["status"] for r in site.feedback_replies()] == ["accepted"] + ["refused"] * len(hostile)
    for reply in site.feedback_replies():
        assert set(reply) == {"schema_version", "feedback_id", "status", "detail"}
        assert "politie" not in reply["detail"] and "brandweer" not in reply["detail"]

    # 3. the strict bundle promoted by the operator
    site.publish(f"{site.base}/commands/rollout", [site.command("promote", "fall-strict-1")])
    site.wait(lambda: bool(site.notices("promoted")), 20, "the promotion")
    assert site.on(f"{site.base}/replies/rollout")[-1]["status"] == "applied"

    # 4. the flooding bundle: private in shadow, promoted, marked, rolled back by itself
    site.install(flood)
    site.wait(
        lambda: totals(site.reports(), "fall.detected")["only_shadow"] >= 1,
        90,
        "a fall only the shadow found",
    )
    assert site.falls(model=flood_model) == [], "a shadow event reached the ambulance"
    site.publish(f"{site.base}/commands/rollout", [site.command("promote", "fall-flood-2")])
    site.wait(lambda: bool(site.falls(model=flood_model)), 90, "an alarm from the promoted bundle")
    site.publish(feedback, [site.mark(site.falls(model=flood_model)[0]["id"], "false_alarm", "person_ok")])
    site.wait(lambda: bool(site.notices("rolled_back")), 20, "the automatic rollback")
    rolled = site.notices("rolled_back")[0]
    assert (rolled["version"], rolled["to"], rolled["by"], rolled["active"]) == (
        "fall-flood-2",
        "fall-strict-1",
        "rules",
        "fall-strict-1",
    )
    assert rolled["rollback_ms"] >= 0

    # 5. a bundle whose own rules promote it
    site.install(good)
    site.wait(
        lambda: any(n["version"] == "fall-good-3" for n in site.notices("promoted")), 40, "promotion by rules"
    )
    assert site.notices("promoted")[-1]["by"] == "rules"
    assert len(site.notices("rolled_back")) == 1, "the operator is told of a rollback once"

    # 6. a restart keeps the rollout and the counts
    assert run.stop_gateway() == 0, run.log_tail()
    state = json.loads(site.cli("bundle", "status"))
    assert (state["active"], state["shadow"], state["previous"]) == ("fall-good-3", None, "fall-strict-1")
    assert json.loads(site.cli("register"))["model_rollout"]["active"] == "fall-good-3"
    before = len(site.on(f"{site.base}/operator/feedback"))
    run.start_gateway()
    site.wait(
        lambda: len(site.on(f"{site.base}/operator/feedback")) > before,
        60,
        "the feedback counts after restart",
    )
    counts = site.on(f"{site.base}/operator/feedback")[-1]
    assert counts["marks"] == 2
    assert counts["by_type"]["fall.detected"] == {"true_alarm": 1, "false_alarm": 1}
    assert counts["by_bundle"] == {
        "baseline": {"true_alarm": 1, "false_alarm": 0},
        "fall-flood-2": {"true_alarm": 0, "false_alarm": 1},
    }
    assert counts["by_model"][f"fall@{flood_model}"] == {"true_alarm": 0, "false_alarm": 1}
    site.publish(feedback, [accepted])  # still a replay after the restart
    site.wait(lambda: len(site.feedback_replies()) >= 3 + len(hostile), 30, "the answer to a replay")
    assert "replayed" in site.feedback_replies()[-1]["detail"]
    assert run.stop_gateway() == 0, run.log_tail()

    audit = [json.loads(line) for line in (run.storage / "audit.jsonl").read_text().splitlines()]
    changes = [
        (r["detail"]["action"], r["detail"]["version"]) for r in audit if r["kind"] == "bundle.changed"
    ]
    assert changes == [
        ("installed", "fall-strict-1"),
        ("promoted", "fall-strict-1"),
        ("installed", "fall-flood-2"),
        ("promoted", "fall-flood-2"),
        ("rolled_back", "fall-flood-2"),
        ("installed", "fall-good-3"),
        ("promoted", "fall-good-3"),
    ]
    assert sum(r["kind"] == "feedback.marked" for r in audit) == 2
    assert verify_chain(run.storage / "audit.jsonl").intact
    for message in run.recorder.messages:
        assert JPEG not in message.payload and PNG not in message.payload
