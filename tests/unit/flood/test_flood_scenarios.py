"""Flood scenarios: they load, their ground truth says what they test, and the gateway's water path
(virtual MaxBotix bytes -> decoder -> FloodDetector, in-process, no pty) meets that ground truth.

Ground truth comes from the TRUE still-water depth, so every flood event that waves, debris,
multipath, lost echoes or power-on headers cause is an extra event here and fails the test.
"""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from gateway.config import SensorConfig
from gateway.flood.detector import FloodDetector, FloodSettings
from gateway.messages import Event, Reading
from gateway.sources.protocols.base import Sample
from gateway.sources.protocols.maxbotix import PROTOCOL, MaxbotixDecoder
from sim import ground_truth as gt
from sim.ground_truth import ExpectedEvent
from sim.scenario import (
    FRAME_PERIOD_S,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    parse_scenario,
    scenario_path,
)
from sim.serial.devices import FaultInjector, Faults
from sim.serial.maxbotix import VirtualMaxbotix

FLOOD = (
    "flood_blocked_drain",
    "flood_cloudburst",
    "flood_lost_target",
    "flood_power_on",
    "flood_tide_quay",
    "flood_waves_debris",
)
T0 = datetime(2025, 7, 3, tzinfo=UTC)
LINK = ("sensor.offline", "sensor.online")  # the transport's events, not the detector's


def load(name: str) -> Scenario:
    return load_scenario(scenario_path(name))


def expected(name: str) -> list[tuple[str, object]]:
    return [(e.type, e.data.get("level", e.data.get("faults"))) for e in gt.ground_truth(load(name))]


def replay(scenario: Scenario) -> list[Event]:
    """Play the scenario's only sensor through the gateway's decoder and detector at 6 Hz."""
    (spec,) = scenario.sensors
    water = scenario.water(spec.id)
    rng = random.Random(scenario.seed * 1000)
    device = VirtualMaxbotix(
        scenario.truth_fn(spec.id), rng, water.mount_height_mm, water.model_range_mm, water.artefacts
    )
    detector = FloodDetector(spec.id, FloodSettings(water.mount_height_mm, water.levels))
    decoder = MaxbotixDecoder()
    unplugs = [(f.at, f.until) for f in spec.faults if f.kind == "unplug"]
    garbage = tuple((f.at, f.until, f.rate) for f in spec.faults if f.kind == "garbage")
    noise = (
        FaultInjector(Faults(garbage_p=garbage[0][2], windows=(garbage[0][:2],)), rng) if garbage else None
    )
    events: list[Event] = []
    opened, unplugged = 0.0, False
    for k in range(int(scenario.duration_s * 6)):
        t = k / 6
        if any(a <= t < b for a, b in unplugs):
            unplugged = True
            continue
        if unplugged:  # replugged: a power cycle, and the gateway reopens the port
            unplugged, opened = False, t
            device.power_on(t)
            decoder.reset()
        while (frame := device.frame_due(t)) is not None:
            frame = noise.apply(frame, t) if noise is not None else frame
            for item in decoder.feed(frame):
                if isinstance(item, Sample):
                    warm = {"warming_up"} if t - opened < PROTOCOL.warmup_s else set()
                    reading = Reading(spec.id, T0 + timedelta(seconds=t), item.values, item.flags | warm)
                    events += detector.on_reading(reading)
    return events


def matches(event: Event, truth: ExpectedEvent) -> bool:
    t = (event.time - T0).total_seconds()
    data_ok = all(event.data.get(k) == v for k, v in truth.data.items())
    return event.type == truth.type and data_ok and abs(t - truth.t) <= truth.tolerance_s


def test_flood_scenarios_are_packaged() -> None:
    assert set(FLOOD) <= set(list_scenarios())


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("flood_cloudburst", ["watch", "warning", "alarm", "warning", "watch", "none"]),
        ("flood_tide_quay", ["watch", "warning", "watch", "none"]),
        ("flood_blocked_drain", ["watch", "warning", "watch"]),
        ("flood_waves_debris", ["watch"]),
        ("flood_power_on", ["watch", "none"]),
        ("flood_lost_target", []),
    ],
)
def test_ground_truth_levels(name: str, events: list[str]) -> None:
    truth = gt.ground_truth(load(name))
    assert [e.data["level"] for e in truth if e.type.startswith("flood.")] == events
    assert all(e.type == "flood.cleared" for e in truth if e.data.get("level") == "none")


def test_ground_truth_faults_and_links() -> None:
    assert expected("flood_lost_target") == [
        ("sensor.fault", ["lost_target"]),
        ("sensor.recovered", ["lost_target"]),
    ]
    fault, recovered = gt.ground_truth(load("flood_lost_target"))
    assert (fault.t, recovered.t) == (4800.0, 5700.0)  # 1800 s into the 45-minute window; its end
    links = [(e.type, e.t) for e in gt.ground_truth(load("flood_power_on")) if e.type in LINK]
    # The 5-s unplug at t = 6000 s is shorter than the offline timeout: no link event.
    assert links == [
        ("sensor.offline", 600),
        ("sensor.online", 630),
        ("sensor.offline", 2700),
        ("sensor.online", 2760),
    ]


@pytest.mark.parametrize("name", FLOOD)
def test_the_water_path_meets_the_ground_truth(name: str) -> None:
    scenario = load(name)
    truth = [e for e in gt.ground_truth(scenario) if e.type not in LINK]
    got = replay(scenario)
    for want in truth:
        assert [e for e in got if matches(e, want)], (want, [(e.type, e.time, dict(e.data)) for e in got])
    assert len(got) == len(truth), [(e.type, (e.time - T0).total_seconds(), dict(e.data)) for e in got]


def test_restated_detector_defaults_match_the_gateway() -> None:
    defaults = {f.name: f.default for f in fields(FloodSettings)}
    assert defaults["hysteresis_mm"] == gt.FLOOD_HYSTERESIS_MM
    assert defaults["fall_hold_s"] == gt.FLOOD_FALL_HOLD_S
    assert defaults["lost_target_fault_s"] == gt.LOST_TARGET_FAULT_S
    assert FRAME_PERIOD_S["maxbotix"] == pytest.approx(PROTOCOL.poll_period_s)


@pytest.mark.parametrize("name", FLOOD)
def test_scenario_water_settings_are_a_valid_gateway_config(name: str) -> None:
    scenario = load(name)
    for spec in scenario.sensors:
        config = SensorConfig.model_validate(
            {"id": spec.id, "type": "maxbotix", "port": "/dev/null", **scenario.water(spec.id).config()}
        )
        assert config.levels is not None and config.mount_height_mm == scenario.water(spec.id).mount_height_mm


def _sensor(**changes: object) -> dict[str, object]:
    sensor: dict[str, object] = {
        "id": "w",
        "type": "maxbotix",
        "mount_height_mm": 2000,
        "levels": {"watch": 50, "warning": 150, "alarm": 250},
        "truth": {"depth_mm": [[0, 0]]},
    }
    sensor.update(changes)
    return {k: v for k, v in sensor.items() if v is not None}


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        (_sensor(levels=None), "levels"),
        (_sensor(levels={"watch": 150, "warning": 50, "alarm": 250}), "levels must rise"),
        (_sensor(mount_height_mm=6000), "mount_height_mm"),
        (_sensor(artefact={"waves": 3}), "unknown keys"),
        (_sensor(faults=[{"kind": "stuck", "at": 0, "until": 10}]), "does not apply"),
        (_sensor(type="sds011", truth={"pm25": [[0, 1]], "pm10": [[0, 2]]}), "maxbotix sensors only"),
        (
            {
                "id": "p",
                "type": "sds011",
                "truth": {"pm25": [[0, 1]], "pm10": [[0, 2]]},
                "faults": [{"kind": "lost_target", "at": 0, "until": 10}],
            },
            "does not apply",
        ),
    ],
)
def test_invalid_water_sensors_are_refused(sensor: dict[str, object], message: str) -> None:
    data = {"name": "x", "description": "x", "seed": 1, "duration_s": 100, "sensors": [sensor]}
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_water_only_for_water_sensors() -> None:
    with pytest.raises(ValueError, match="no water-level sensor"):
        load("fog").water("sds-fog")
