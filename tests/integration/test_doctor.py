"""`edge-gateway doctor` on a simulated site, as a technician runs it before leaving the pole.

Scenario: simulated sensors answer on real pseudo-terminals. An SDS011 and an MH-Z19 (which only
answers when asked) are where the config says; a MaxBotix answers where the config expects an
SDS011; a PMS5003 and an MH-Z19 sit on each other's ports; one port is silent and one does not
exist. One camera is a real video file, one a live MJPEG stream, one a file that is not there.
A real Mosquitto is the broker. Then: the same site with a model file changed after signing, a
broker over mutual TLS with the right and with a foreign CA, and a broker that is not running.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import serial
from typer.testing import CliRunner

from gateway.shipped import models_dir
from gateway.tools.cli import app
from gateway.tools.doctor import Finding, Status
from gateway.tools.doctor.checks import run_checks
from gateway.tools.pki import identity_gateway
from sim.broker import Mosquitto
from sim.serial.devices import VirtualDevice, VirtualMhz19, VirtualPms5003, VirtualSds011
from sim.serial.maxbotix import VirtualMaxbotix
from sim.serial.pty import VirtualPort
from sim.serial.runner import DeviceRunner, ScenarioClock
from sim.video import MjpegServer, load_scene, scene_path
from tests.secure_broker import Ca, SecureMosquitto, issue

LEVELS = "mount_height_mm: 2000, levels: {watch: 100, warning: 300, alarm: 500}"


def truth(t: float) -> Mapping[str, float]:
    return {"pm1": 6, "pm25": 9, "pm10": 14, "co2": 650, "temperature": 12, "humidity": 80, "depth_mm": 150}


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[Path]:
    """Simulated sensors on ptys under <tmp>/dev, each named after what really answers there."""
    rng = random.Random(3)
    clock = ScenarioClock(1.0)
    on_port: dict[str, VirtualDevice | None] = {
        "pm-hall": VirtualSds011(truth, rng),
        "co2-hall": VirtualMhz19(truth, rng),
        "pm-street": VirtualMaxbotix(truth, rng, 2000),
        "pm-kitchen": VirtualMhz19(truth, rng),  # swapped with co2-kitchen's PMS5003
        "co2-kitchen": VirtualPms5003(truth, rng),
        "pm-attic": None,  # a port with nothing connected
    }
    ports = [VirtualPort(tmp_path / "dev" / name) for name in on_port]
    runners = [
        DeviceRunner(device, port, clock).start()
        for device, port in zip(on_port.values(), ports, strict=True)
        if device is not None
    ]
    yield tmp_path / "dev"
    for runner in runners:
        runner.stop()
    for port in ports:
        port.close()


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A 2 s, 15 fps, 640x360 Motion-JPEG file."""
    path = tmp_path / "hall.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, (640, 360))
    for i in range(30):
        writer.write(np.full((360, 640, 3), 4 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def stream() -> Iterator[MjpegServer]:
    server = MjpegServer(
        {"gate": replace(load_scene(scene_path("adl_walk_across")), duration_s=10.0)}
    ).start()
    yield server
    server.stop()


def write_config(tmp_path: Path, mqtt: str, sensors: str = "", cameras: str = "", extra: str = "") -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"site: kade\ngateway: gw-1\nmqtt: {mqtt}\nstorage: {tmp_path / 'storage'}\n"
        f"sensors:{sensors or ' []'}\ncameras:{cameras or ' []'}\n{extra}"
    )
    return path


def by_subject(findings: list[Finding]) -> dict[str, Finding]:
    return {f.subject.split(" ")[0]: f for f in findings}


def test_doctor_names_what_answers_on_each_port(
    tmp_path: Path, devices: Path, video: Path, stream: MjpegServer, broker: Mosquitto
) -> None:
    sensors = "".join(
        f"\n  - {{id: {name}, type: {kind}, port: {devices / name}}}"
        for name, kind in [
            ("pm-hall", "sds011"),
            ("co2-hall", "mhz19"),
            ("pm-street", "sds011"),
            ("pm-kitchen", "pms5003"),
            ("co2-kitchen", "mhz19"),
            ("pm-attic", "sds011"),
            ("pm-roof", "sds011"),
        ]
    )
    cameras = (
        f"\n  - {{id: hall, url: {video}}}\n  - {{id: gate, url: '{stream.url('gate')}'}}"
        f"\n  - {{id: yard, url: {tmp_path / 'yard.mp4'}}}"
    )
    path = write_config(tmp_path, f"{{host: {broker.host}, port: {broker.port}}}", sensors, cameras)
    result = CliRunner().invoke(app, ["doctor", "--config", str(path), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    checks = {c["subject"].split(" ")[0]: c for c in report["checks"]}

    assert checks["pm-hall"]["status"] == "ok" and "sds011 answers" in checks["pm-hall"]["found"]
    assert checks["co2-hall"]["status"] == "ok" and "co2 6" in checks["co2-hall"]["found"]  # asked, answered
    street = checks["pm-street"]
    assert street["status"] == "fail"
    assert "maxbotix answers" in street["found"] and "not the configured sds011" in street["found"]
    assert street["action"].startswith("set sensors[2].type: maxbotix")
    for swapped, other in (("pm-kitchen", "co2-kitchen"), ("co2-kitchen", "pm-kitchen")):
        assert checks[swapped]["status"] == "fail"
        assert checks[swapped]["action"] == f"{swapped} and {other} are swapped: exchange their ports"
    assert checks["pm-attic"]["status"] == "fail" and checks["pm-attic"]["found"].startswith("silent")
    assert checks["pm-roof"]["found"] == f"no serial port at {devices / 'pm-roof'}"

    hall = checks["hall"]
    assert (hall["status"], hall["details"]["width"], hall["details"]["height"]) == ("ok", 640, 360)
    assert hall["details"]["fps"] == 15.0 and "2.0 s long" in hall["found"]
    gate = checks["gate"]
    assert gate["status"] in ("ok", "warn") and gate["details"]["fps_source"] == "measured"
    assert (gate["details"]["width"], gate["details"]["height"]) == (640, 480)
    assert checks["yard"]["status"] == "fail" and "no such file" in checks["yard"]["action"]

    assert checks[f"{broker.host}:{broker.port}"]["status"] == "ok"
    assert {c["check"]: c["status"] for c in report["checks"]}["models"] == "ok"
    assert {c["check"] for c in report["checks"]} >= {"config", "policy", "clock", "disk"}


def test_a_model_changed_after_signing_fails(tmp_path: Path, broker: Mosquitto) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    onnx = models / "air_quality" / "pm_humidity.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0x01
    onnx.write_bytes(bytes(data))
    path = write_config(
        tmp_path, f"{{host: {broker.host}, port: {broker.port}}}", extra=f"trust: {{models_dir: {models}}}\n"
    )
    findings = run_checks(path)
    model = next(f for f in findings if f.check == "models")
    assert model.status is Status.FAIL
    assert "pm_humidity.onnx" in model.found and "reinstall" in model.action
    assert next(f for f in findings if f.check == "policy").status is Status.OK


def test_broker_over_mutual_tls_and_with_a_foreign_ca(tmp_path: Path) -> None:
    ca = Ca.create(tmp_path / "ca")
    creds = issue(ca, tmp_path / "gw", identity_gateway("kade", "gw-1"))
    broker = SecureMosquitto(tmp_path / "broker", ca, "topic readwrite #\n").start()
    try:
        tls = f"{{ca: {creds.ca_cert}, cert: {creds.cert}, key: {creds.key}}}"
        mqtt = f"{{host: localhost, port: {broker.port}, tls: {tls}}}"
        found = by_subject(run_checks(write_config(tmp_path, mqtt)))
        assert found[f"localhost:{broker.port}"].status is Status.OK, found
        assert "mutual TLS" in found[f"localhost:{broker.port}"].found
        assert found[str(creds.cert)].status is Status.OK
        assert found[str(creds.cert)].found.startswith("CN gw.kade.gw-1, valid until")

        foreign = Ca.create(tmp_path / "other-ca", "someone-else")
        tls = f"{{ca: {foreign.cert}, cert: {creds.cert}, key: {creds.key}}}"
        mqtt = f"{{host: localhost, port: {broker.port}, tls: {tls}}}"
        refused = by_subject(run_checks(write_config(tmp_path, mqtt)))[f"localhost:{broker.port}"]
        assert refused.status is Status.FAIL
        assert "TLS" in refused.found and "mqtt.tls.ca" in refused.action
    finally:
        broker.stop()


def test_a_broker_that_is_not_running_is_refused(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")  # a free port nobody listens on
    findings = run_checks(write_config(tmp_path, f"{{host: 127.0.0.1, port: {broker.port}}}"))
    [down] = [f for f in findings if f.check == "broker"]
    assert down.status is Status.FAIL and "refused" in down.found
    assert "is the broker running" in down.action


def test_a_config_with_errors_is_one_finding_and_exit_1(tmp_path: Path) -> None:
    path = write_config(tmp_path, "{host: 127.0.0.1}", "\n  - {id: pm, type: sds012, port: /dev/ttyUSB0}")
    result = CliRunner().invoke(app, ["doctor", "--config", str(path), "--json"])
    assert result.exit_code == 1
    config, clock = json.loads(result.output)["checks"]
    assert config["status"] == "fail" and "unknown sensor type 'sds012'" in config["found"]
    assert config["action"] == f"edge-gateway check-config {path} lists every error"
    assert clock["check"] == "clock"


def test_a_port_held_by_a_running_gateway_is_a_warning_in_the_table(tmp_path: Path, devices: Path) -> None:
    port = devices / "pm-hall"
    path = write_config(
        tmp_path, "{host: 127.0.0.1, port: 1}", f"\n  - {{id: pm-hall, type: sds011, port: {port}}}"
    )
    with serial.serial_for_url(str(port), baudrate=9600, exclusive=True):  # as the gateway holds it
        result = CliRunner().invoke(app, ["doctor", "--config", str(path)], env={"COLUMNS": "250"})
        [busy] = [f for f in run_checks(path) if f.check == "serial"]
    assert result.exit_code == 1, result.output  # the broker at port 1 is refused
    [row] = [line for line in result.output.splitlines() if "pm-hall on" in line]
    assert [cell.strip() for cell in row.split("│")[1:3]] == ["warn", "serial"]
    assert result.output.strip().splitlines()[-1].endswith("1 fail")
    assert busy.status is Status.WARN
    assert busy.found == f"{port} is busy: a running gateway or another program holds it " + (
        "(stop it, e.g. sudo systemctl stop edge-gateway, then retry)"
    )
    assert busy.action == "stop the gateway to probe it (its sources/<id>/status topic shows its health)"
