"""The privacy policy: the shipped default keeps the issue's promises; bad policies fail loudly.

Each actor's view is checked through `Policy.grants_for` over the whole event catalogue, so a
new event type or a careless wildcard (`*`, `air.*`) in the default policy cannot quietly widen
what an actor receives. Invalid files fail with errors naming file, line, key and reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.events import EVENT_TYPES, matching_types
from gateway.privacy.policy import DEFAULT_POLICY, Grant, Policy, load_policy
from gateway.yamlfile import ConfigError, load_yaml_model

ACTORS = {"gemeente", "politie", "brandweer", "ambulance", "rijkswaterstaat", "bewoners"}
AIR_AND_SENSOR = sorted(matching_types("air.*") | matching_types("sensor.*"))
FALL = sorted(matching_types("fall.*"))
FLOOD = sorted(matching_types("flood.*"))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def receivers(policy: Policy, event_type: str) -> dict[str, Grant]:
    return dict(policy.grants_for(event_type))


def types_for(policy: Policy, actor: str) -> set[str]:
    return {t for t in EVENT_TYPES if actor in receivers(policy, t)}


def test_default_policy_loads_with_every_actor(policy: Policy) -> None:
    assert policy.version
    assert set(policy.actors) == ACTORS
    assert load_yaml_model(DEFAULT_POLICY, Policy) == policy
    for actor in policy.actors.values():
        assert len(actor.purpose) >= 10
        for grant in actor.grants:
            assert set(grant.round) <= set(grant.fields)


def test_sanity_of_catalogue_groups() -> None:
    assert {"air.band_changed", "air.summary", "sensor.fault", "sensor.offline"} <= set(AIR_AND_SENSOR)
    assert "fall.confirmed" in FALL
    assert "flood.alarm" in FLOOD


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_at_most_one_grant_per_actor_per_type(policy: Policy, event_type: str) -> None:
    actors = [actor for actor, _ in policy.grants_for(event_type)]
    assert len(actors) == len(set(actors))


@pytest.mark.parametrize("event_type", AIR_AND_SENSOR)
@pytest.mark.parametrize("actor", ["politie", "ambulance", "brandweer", "rijkswaterstaat"])
def test_actors_without_an_air_purpose_get_nothing_from_air_sensors(
    policy: Policy, actor: str, event_type: str
) -> None:
    assert actor not in receivers(policy, event_type)


def test_ambulance_gets_fall_alarms_with_zone_only(policy: Policy) -> None:
    assert types_for(policy, "ambulance") == set(FALL)
    for event_type in FALL:
        grant = receivers(policy, event_type)["ambulance"]
        assert "zone" in grant.fields
        assert grant.location in ("zone", "none")
        assert grant.aggregate is None  # an alarm must arrive at once


def test_brandweer_gets_flood_and_fall_alarms(policy: Policy) -> None:
    got = types_for(policy, "brandweer")
    assert {"flood.alarm", "flood.warning", "fall.confirmed"} <= got
    assert got <= set(FLOOD) | set(FALL)


def test_rijkswaterstaat_gets_water_levels_only(policy: Policy) -> None:
    assert types_for(policy, "rijkswaterstaat") == set(FLOOD)
    for event_type in FLOOD:
        grant = receivers(policy, event_type)["rijkswaterstaat"]
        assert {"level", "depth_mm"} <= set(grant.fields)
        assert grant.location in ("none", "zone", "grid")  # never exact coordinates


def test_bewoners_get_only_hourly_air_summaries_per_zone_and_monthly_escalation_counts(
    policy: Policy,
) -> None:
    assert types_for(policy, "bewoners") == {"air.summary", "escalation.monthly"}
    assert receivers(policy, "escalation.monthly")["bewoners"].include == []
    grant = receivers(policy, "air.summary")["bewoners"]
    assert grant.aggregate is not None
    assert grant.aggregate.window_s == 3600
    assert grant.time_round_s == 3600
    assert grant.location == "zone"
    assert grant.include == []  # no source, no site: per area, not per sensor
    assert set(grant.fields) <= {"band", "pm25", "pm10"}


def test_politie_gets_camera_tampering_only(policy: Policy) -> None:
    assert types_for(policy, "politie") <= {"camera.tampered", "camera.tamper_cleared"}


def test_no_default_grant_gives_exact_coordinates(policy: Policy) -> None:
    for actor in policy.actors.values():
        for grant in actor.grants:
            assert grant.location != "exact"


VALID = """\
version: test-1
actors:
  gemeente:
    purpose: Operating the shared sensor network
    grants:
      - events: [air.band_changed, sensor.*]
        fields: [band, pm25]
        round: {pm25: 1}
        location: zone
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_valid_small_policy_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert [actor for actor, _ in policy.grants_for("sensor.fault")] == ["gemeente"]
    assert policy.grants_for("air.co2_high") == []


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "reason"),
    [
        (
            "events: [air.band_changed, sensor.*]",
            "events: [air.band_changed, air.bogus]",
            6,
            "actors.gemeente.grants[0].events",
            "no known event type matches air.bogus",
        ),
        (
            "round: {pm25: 1}",
            "round: {pm10: 1}",
            6,
            "actors.gemeente.grants[0]",
            "round names fields that are not granted: pm10",
        ),
        (
            "location: zone",
            "location: zone\n        colour: red",
            10,
            "actors.gemeente.grants[0].colour",
            "unknown key; known keys: ",
        ),
        (
            "  gemeente:",
            "  Gemeente!:",
            3,
            "actors.Gemeente!: use lowercase letters",
            "at most 32, starting with a letter (value: 'Gemeente!')",
        ),
        ("location: zone", "location: street", 9, "actors.gemeente.grants[0].location", "street"),
        ("version: test-1\n", "", 1, "version", "Field required"),
    ],
)
@pytest.mark.parametrize("loader", ["load_policy", "load_yaml_model"])
def test_invalid_policy_errors_name_line_key_and_reason(
    tmp_path: Path, loader: str, old: str, new: str, line: int, key: str, reason: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(ConfigError) as info:
        if loader == "load_policy":
            load_policy(path)
        else:
            load_yaml_model(path, Policy)
    assert len(info.value.errors) == 1, info.value.errors
    error = info.value.errors[0]
    assert error.startswith(f"{path}:{line}: {key}"), error
    assert reason in error, error


def test_unreadable_policy_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
