"""Packaged simulator scenarios: they load, their truth is seeded, their ground truth says what they test."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path
from statistics import fmean

import pytest
from ruamel.yaml import YAML

import sim.scenario
from gateway.air.detector import AirQualitySettings
from gateway.air.eaqi import EAQI_TABLES
from sim.ground_truth import EAQI_LOWER, ExpectedEvent, TruthSettings, ground_truth
from sim.scenario import (
    MEASURED,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    parse_scenario,
    scenario_path,
)

PACKAGED = (
    "clean_day",
    "co2_full_room",
    "default",
    "dying_fan",
    "fog",
    "stuck_sensor",
    "wood_smoke_evening",
)


def load(name: str) -> Scenario:
    return load_scenario(scenario_path(name))


def of(events: list[ExpectedEvent], kind: str, source: str | None = None) -> list[ExpectedEvent]:
    return [e for e in events if e.type == kind and (source is None or e.source == source)]


def test_all_packaged_scenarios_are_listed() -> None:
    assert set(PACKAGED) <= set(list_scenarios())
    with pytest.raises(ValueError, match="no scenario 'nope'"):
        scenario_path("nope")


@pytest.mark.parametrize("name", list_scenarios())
def test_packaged_scenario_loads_and_validates(name: str) -> None:
    scenario = load(name)
    assert scenario.name == name
    assert scenario.description
    assert (1800 if name == "default" else 3600) <= scenario.duration_s <= 10800
    truth = ground_truth(scenario)
    assert truth == sorted(truth, key=lambda e: (e.t, e.source, e.type))
    for spec in scenario.sensors:
        device = scenario.truth_fn(spec.id)(scenario.duration_s / 2)
        assert set(device) == set(MEASURED[spec.type])
        assert all(v >= 0 for k, v in device.items() if k != "temperature")


def test_truth_is_deterministic_for_a_seed() -> None:
    first, second = load("wood_smoke_evening"), load("wood_smoke_evening")
    times = [t * 7.3 for t in range(1500)]
    for spec in first.sensors:
        a, b = first.truth_fn(spec.id), second.truth_fn(spec.id)
        assert [a(t) for t in times] == [b(t) for t in times]
    # Another seed gives another fluctuation around the same keyframes.
    yaml = YAML(typ="safe", pure=True)
    data = yaml.load(scenario_path("wood_smoke_evening"))
    data["seed"] += 1
    reseeded = parse_scenario(data)
    other = reseeded.truth_fn("sds-street")
    assert [other(t) for t in times] != [first.truth_fn("sds-street")(t) for t in times]


def test_wood_smoke_bands_rise_and_fall() -> None:
    truth = of(ground_truth(load("wood_smoke_evening")), "air.band_changed", "sds-street")
    order = ("good", "fair", "moderate", "poor", "very_poor", "extremely_poor")
    steps = [
        order.index(str(e.data["band"])) - order.index(str(e.data["previous"]))
        for e in truth
        if e.required and e.data["previous"] is not None
    ]
    assert sum(s > 0 for s in steps) >= 4
    assert sum(s < 0 for s in steps) >= 4
    assert "extremely_poor" in {e.data["band"] for e in truth}
    assert truth[-1].data["band"] == "good"


def _raw_band_index(pm25: float, pm10: float) -> int:
    lower = EAQI_LOWER["2017"]
    return max(sum(pm25 >= b for b in lower["pm25"]), sum(pm10 >= b for b in lower["pm10"]))


def test_fog_truth_has_no_band_rise_but_the_raw_sds011_would() -> None:
    fog = load("fog")
    bands = of(ground_truth(fog), "air.band_changed")
    assert [(e.data["band"], e.data["previous"]) for e in bands] == [("good", None), ("good", None)]
    # What the SDS011 itself reports in the densest hour (a 5-minute mean), uncorrected:
    device = fog.truth_fn("sds-fog")
    air = fog.air_fn("sds-fog")
    window = [device(t) for t in range(3600, 3900)]
    seen = _raw_band_index(fmean(v["pm25"] for v in window), fmean(v["pm10"] for v in window))
    true = _raw_band_index(air(3750)["pm25"], air(3750)["pm10"])
    assert true == 0
    assert seen >= 3  # "poor" or worse: the scenario really needs the humidity correction
    assert fog.sensor("sds-fog").humidity_from == "pms-fog"


def test_co2_full_room_goes_high_then_normal() -> None:
    truth = ground_truth(load("co2_full_room"))
    summary = [(e.type, e.data.get("level")) for e in truth]
    assert summary == [
        ("air.co2_high", "elevated"),
        ("air.co2_high", "high"),
        ("air.co2_normal", "normal"),
    ]


def test_stuck_sensor_repeats_its_value_and_is_expected_to_be_caught() -> None:
    scenario = load("stuck_sensor")
    device = scenario.truth_fn("sds-frozen")
    frozen = {tuple(device(t).items()) for t in range(2400, 4800, 7)}
    assert len(frozen) == 1
    assert device(4800) != device(2400)
    faults = of(ground_truth(scenario), "sensor.fault") + of(ground_truth(scenario), "sensor.recovered")
    assert [(e.type, e.t, e.data) for e in faults] == [
        ("sensor.fault", 2400.0, {"faults": ["stuck"]}),
        ("sensor.recovered", 4800.0, {"faults": ["stuck"]}),
    ]
    assert [f.kind for f in scenario.device_faults("sds-frozen")] == ["stuck"]


def test_stuck_sensor_is_frozen_only_inside_its_stuck_window() -> None:
    scenario = load("stuck_sensor")
    frozen = scenario.frozen_fn("sds-frozen")
    assert [frozen(t) for t in (0.0, 2399.9, 2400.0, 4799.9, 4800.0)] == [False, False, True, True, False]
    others = [s.id for s in scenario.sensors if s.id != "sds-frozen"]
    assert not any(scenario.frozen_fn(i)(t) for i in others for t in range(0, 7200, 60))
    fan = load("dying_fan")  # a failed fan is a device fault, but not a stuck sensor
    assert not any(fan.frozen_fn("pms-fan")(t) for t in range(0, 7200, 60))


def test_ground_truth_defaults_to_truth_settings() -> None:
    scenario = load("default")
    assert ground_truth(scenario) == ground_truth(scenario, TruthSettings())


def test_the_scenario_model_does_not_import_its_ground_truth() -> None:
    tree = ast.parse(Path(sim.scenario.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "sim.ground_truth" not in imported  # sim.ground_truth builds on sim.scenario: no cycle


def test_dying_fan_decays_to_zero_and_never_recovers() -> None:
    scenario = load("dying_fan")
    device = scenario.truth_fn("pms-fan")
    assert device(3590)["pm25"] > 10
    assert 0 < device(3630)["pm25"] < device(3590)["pm25"]
    assert all(device(t) == {"pm1": 0.0, "pm25": 0.0, "pm10": 0.0} for t in range(3660, 7200, 11))
    truth = ground_truth(scenario)
    assert [(e.type, e.source, e.data) for e in truth if e.type.startswith("sensor.")] == [
        ("sensor.fault", "pms-fan", {"faults": ["fan_failure"]})
    ]


def test_default_scenario_mixes_sensors_and_transport_faults() -> None:
    scenario = load("default")
    assert sorted(s.type for s in scenario.sensors) == ["mhz19", "pms5003t", "sds011"]
    assert [f.kind for f in scenario.transport_faults("sds-1")] == ["garbage"]
    assert [f.kind for f in scenario.transport_faults("mhz-1")] == ["unplug"]
    types = {e.type for e in ground_truth(scenario)}
    assert {"air.band_changed", "air.co2_high", "air.co2_normal", "sensor.offline", "sensor.online"} <= types


def test_sim_eaqi_copy_matches_the_gateway_table() -> None:
    for version, table in EAQI_TABLES.items():
        assert EAQI_LOWER[version]["pm25"] == table.pm25[:5]
        assert EAQI_LOWER[version]["pm10"] == table.pm10[:5]


def test_truth_settings_restate_the_gateway_defaults() -> None:
    gateway = AirQualitySettings()
    for f in fields(TruthSettings):
        assert getattr(TruthSettings(), f.name) == getattr(gateway, f.name), f.name
    # The gateway's settings object is accepted as is.
    assert ground_truth(load("co2_full_room"), gateway) == ground_truth(load("co2_full_room"))


def minimal() -> dict[str, object]:
    return {
        "name": "t",
        "description": "d",
        "seed": 1,
        "duration_s": 600,
        "sensors": [{"id": "s", "type": "sds011", "truth": {"pm25": [[0, 5]], "pm10": [[0, 8]]}}],
    }


def sensor(**changes: object) -> dict[str, object]:
    data = minimal()
    spec = data["sensors"][0]  # type: ignore[index]  # built just above
    spec.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**minimal(), "extra": 1}, r"scenario: .*unknown keys \['extra'\]"),
        ({**minimal(), "seed": "x"}, r"scenario.seed"),
        (sensor(type="bme280"), r"sensors\[0\].type: unknown sensor type"),
        (sensor(truth={"pm25": [[0, 5]]}), r"sensors\[0\].truth: missing keys \['pm10'\]"),
        (sensor(truth={"pm25": [[10, 5], [0, 6]], "pm10": [[0, 8]]}), r"truth.pm25\[1\].t: .*decrease"),
        (sensor(truth={"pm25": [[0, -1]], "pm10": [[0, 8]]}), r"truth.pm25\[0\].value"),
        (sensor(artefact={"humidity_growth": 0.2}), r"missing keys \['humidity'\]"),
        (sensor(faults=[{"kind": "melt", "at": 0, "until": 10}]), r"faults\[0\].kind: unknown fault"),
        (sensor(faults=[{"kind": "unplug", "at": 0, "until": 10, "rate": 0.5}]), r"faults\[0\].rate"),
        (sensor(faults=[{"kind": "garbage", "at": 20, "until": 10}]), r"faults\[0\].until"),
        (
            sensor(
                faults=[
                    {"kind": "stuck", "at": 0, "until": 100},
                    {"kind": "fan_failure", "at": 50, "until": 90},
                ]
            ),
            r"device faults overlap",
        ),
        (sensor(humidity_from="nobody"), r"humidity_from"),
    ],
)
def test_invalid_scenarios_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_fan_failure_needs_a_fan() -> None:
    data = minimal()
    data["sensors"] = [
        {
            "id": "m",
            "type": "mhz19",
            "truth": {"co2": [[0, 500]], "temperature": [[0, 20]]},
            "faults": [{"kind": "fan_failure", "at": 0, "until": 100}],
        }
    ]
    with pytest.raises(ScenarioError, match="only PM sensors have a fan"):
        parse_scenario(data)


def test_short_faults_are_not_expected_to_be_detected() -> None:
    data = sensor(
        faults=[{"kind": "stuck", "at": 100, "until": 200}, {"kind": "unplug", "at": 300, "until": 305}]
    )
    truth = ground_truth(parse_scenario(data))
    assert {e.type for e in truth} == {"air.band_changed"}
