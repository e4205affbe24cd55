"""The sensors' pipeline keeps what users were told across a restart and a remote config change.

Scenario: a particulate sensor reports a polluted street and a water-level sensor a flooded one;
the gateway announces a band and a flood alarm. It restarts (a new pipeline on the same storage):
the same conditions are not announced again. An operator then changes the air window remotely:
the flood detector is the same object with its state, and neither event is repeated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.messages import Event, Reading, SourceStatus
from gateway.sensors import SensorPipeline
from gateway.state import StateFile
from gateway.trust import load_models

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def config(tmp_path: Path, window_s: float = 300.0) -> GatewayConfig:
    sensors = [
        {"id": "pm", "type": "sds011", "port": "loop://"},
        {
            "id": "sonar",
            "type": "maxbotix",
            "port": "loop://",
            "mount_height_mm": 2000,
            "levels": {"watch": 50, "warning": 150, "alarm": 250},
        },
    ]
    return GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1"},
            "storage": str(tmp_path),
            "sensors": sensors,
            "air": {"window_s": window_s},
        }
    )


def pipeline(cfg: GatewayConfig, out: list[Event]) -> SensorPipeline:
    corrector = load_models().value.corrector
    return SensorPipeline(cfg, corrector, None, out.append, StateFile(cfg.storage / "detector_state.json"))


def polluted_and_flooded(sensors: SensorPipeline, start: datetime, seconds: int) -> None:
    for second in range(seconds):
        t = start + timedelta(seconds=second)
        sensors.on_output(Reading("pm", t, {"pm25": 60.0, "pm10": 80.0}))
        sensors.on_output(Reading("sonar", t, {"distance_mm": 1600.0}))


def test_a_restart_does_not_announce_the_same_band_or_flood_level_again(tmp_path: Path) -> None:
    first: list[Event] = []
    polluted_and_flooded(pipeline(config(tmp_path), first), T0, 120)
    assert {"air.band_changed", "flood.alarm"} <= {e.type for e in first}

    again: list[Event] = []
    polluted_and_flooded(pipeline(config(tmp_path), again), T0 + timedelta(minutes=5), 120)
    assert [e.type for e in again] == []


def test_a_remote_air_change_keeps_flood_detectors_and_what_was_announced(tmp_path: Path) -> None:
    events: list[Event] = []
    sensors = pipeline(config(tmp_path), events)
    polluted_and_flooded(sensors, T0, 120)
    flood = sensors.detectors["sonar"]
    events.clear()

    sensors.reconfigure(config(tmp_path, window_s=600.0))
    polluted_and_flooded(sensors, T0 + timedelta(seconds=120), 120)
    assert sensors.detectors["sonar"] is flood
    assert events == []
    assert sensors.detectors["pm"].snapshot()["band"] is not None


def test_statuses_become_sensor_events_and_an_unreadable_state_file_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / "detector_state.json").write_text("{not json")
    events: list[Event] = []
    sensors = pipeline(config(tmp_path), events)
    sensors.on_output(SourceStatus("pm", T0, online=False, reason="unplugged"))
    assert [(e.type, e.data["reason"]) for e in events] == [("sensor.offline", "unplugged")]
