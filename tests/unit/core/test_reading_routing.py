"""Each sensor's readings reach the detector for what they measure.

Scenario: a sensor node with a particulate sensor and a level sensor (levels configured) sends one
reading per sensor group, as its link splits them; the level reading goes to its flood detector
and raises a flood event, the particulate reading to air quality, and climate-only readings to
neither. A maxbotix sensor gets a flood detector, an SDS011 an air-quality one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.air.detector import AirQualityDetector
from gateway.config import GatewayConfig
from gateway.flood.detector import FloodDetector
from gateway.inference.slots import Slot
from gateway.messages import Reading
from gateway.sensors import ByKeys, reading_detectors
from gateway.trust import load_models

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LEVELS = {"watch": 50, "warning": 150, "alarm": 250}


def config() -> GatewayConfig:
    sensors = [
        {
            "id": "node-1",
            "type": "node",
            "port": "loop://",
            "node_id": "n1",
            "mount_height_mm": 2000,
            "levels": LEVELS,
        },
        {"id": "sonar", "type": "maxbotix", "port": "loop://", "mount_height_mm": 2000, "levels": LEVELS},
        {"id": "pm", "type": "sds011", "port": "loop://"},
    ]
    return GatewayConfig.model_validate(
        {"site": "s", "gateway": "g", "mqtt": {"host": "127.0.0.1"}, "storage": "/tmp/x", "sensors": sensors}
    )


def test_each_sensor_type_gets_its_detector() -> None:
    detectors = reading_detectors(config(), Slot(load_models().value.corrector), None)
    node = detectors["node-1"]
    assert isinstance(node, ByKeys)
    assert isinstance(node.air, AirQualityDetector) and isinstance(node.flood, FloodDetector)
    assert isinstance(detectors["sonar"], FloodDetector)
    assert isinstance(detectors["pm"], AirQualityDetector)


def test_a_nodes_groups_reach_their_own_detectors() -> None:
    node = reading_detectors(config(), Slot(load_models().value.corrector), None)["node-1"]
    events = []
    for second in range(0, 600, 2):  # ten minutes of a street flooding to 300 mm, with the node's air
        t = T0 + timedelta(seconds=second)
        depth = min(300.0, second)
        events += node.on_reading(Reading("node-1", t, {"distance_mm": 2000 - depth}))
        events += node.on_reading(Reading("node-1", t, {"pm25": 8.0, "pm10": 12.0}))
        events += node.on_reading(Reading("node-1", t, {"temperature": 11.0, "humidity": 80.0}))
    types = {e.type for e in events}
    assert "flood.alarm" in types, types
    assert "air.band_changed" in types, types
    assert all(t.startswith(("flood.", "air.", "sensor.")) for t in types)
