"""`edge-gateway register` lists what is really wired: a node's own sensors, cameras, and only the
detectors, models and recipients that the configured sources feed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.config import ConfigError, load_config
from gateway.tools.cli import app

HEAD = """\
site: kade
gateway: gw-1
mqtt: {host: 127.0.0.1}
storage: /var/lib/edge-gateway
location: {zone: centrum}
"""
LEVELS = "mount_height_mm: 1800, levels: {watch: 100, warning: 300, alarm: 500}"


def register(tmp_path: Path, body: str) -> dict[str, Any]:
    path = tmp_path / "gateway.yaml"
    path.write_text(HEAD + body)
    result = CliRunner().invoke(app, ["register", "--config", str(path)])
    assert result.exit_code == 0, result.output
    entry: dict[str, Any] = json.loads(result.output)
    return entry


def receives(entry: dict[str, Any]) -> dict[str, set[str]]:
    return {
        r["actor"]: {t for flow in r["receives"] for t in flow["event_types"]} for r in entry["recipients"]
    }


def test_a_level_node_measures_only_what_is_wired_to_it(tmp_path: Path) -> None:
    entry = register(
        tmp_path,
        "sensors:\n  - {id: node-kade, type: node, port: /dev/ttyACM0, node_id: node-0042,\n"
        f"     node_sensors: [maxbotix, bme280], {LEVELS}}}\n",
    )
    [node] = entry["measures"]
    assert node["quantities"] == ["temperature", "humidity", "pressure", "distance_mm"]
    assert node["wired"] == ["maxbotix", "bme280"]
    assert [d.split(":")[0] for d in entry["processing"]["detectors"]] == ["water level"]
    assert [m.split(" ")[0] for m in entry["processing"]["models"]] == ["flood"]
    got = receives(entry)
    assert set(got) == {"gemeente", "brandweer", "rijkswaterstaat"}
    assert got["rijkswaterstaat"] == {"flood.watch", "flood.warning", "flood.alarm", "flood.cleared"}
    assert not any(t.startswith("air.") for types in got.values() for t in types)
    assert "bewoners" in entry["policy_actors_receiving_nothing_from_this_device"]


def test_a_node_without_node_sensors_says_so(tmp_path: Path) -> None:
    entry = register(tmp_path, "sensors:\n  - {id: node-kade, type: node, port: /dev/ttyACM0}\n")
    [node] = entry["measures"]
    assert "not declared" in node["wired"] and "rain_mm" in node["quantities"]


def test_cameras_are_listed_with_their_detectors_and_recipients(tmp_path: Path) -> None:
    entry = register(
        tmp_path,
        "cameras:\n  - {id: hall, url: rtsp://10.0.0.5/s, masks: [[[0, 0], [1, 0], [1, 0.2]]]}\n"
        "  - {id: gate, url: /dev/video0, fall: {enabled: false}}\n",
    )
    assert [(m["id"], m["type"], m["privacy_masks"]) for m in entry["measures"]] == [
        ("hall", "camera", 1),
        ("gate", "camera", 0),
    ]
    detectors = [d.split(":")[0] for d in entry["processing"]["detectors"]]
    assert detectors == ["camera tamper", "falls"]
    assert any("MoveNet" in m for m in entry["processing"]["models"])
    assert not any("pm_humidity" in m for m in entry["processing"]["models"])
    got = receives(entry)
    assert got["politie"] == {"camera.tampered", "camera.tamper_cleared"}
    assert got["ambulance"] == {"fall.detected", "fall.confirmed", "fall.recovered"}
    assert "rijkswaterstaat" not in got and "bewoners" not in got


def test_a_co2_sensor_brings_no_humidity_model(tmp_path: Path) -> None:
    entry = register(tmp_path, "sensors:\n  - {id: co2, type: mhz19, port: /dev/ttyUSB1}\n")
    assert entry["processing"]["models"] == []
    assert receives(entry)["gemeente"] >= {"air.co2_high", "air.co2_normal", "sensor.fault"}


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        ("{id: n, type: node, port: /dev/x, node_sensors: [co2]}", "node_sensors: each of pms5003"),
        ("{id: n, type: node, port: /dev/x, node_sensors: [bme280, bme280]}", "at most once"),
        ("{id: n, type: sds011, port: /dev/x, node_sensors: [bme280]}", "type: node only"),
        (f"{{id: n, type: node, port: /dev/x, node_sensors: [bme280], {LEVELS}}}", "add maxbotix"),
    ],
)
def test_node_sensors_are_checked(tmp_path: Path, sensor: str, message: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(HEAD + f"sensors:\n  - {sensor}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
