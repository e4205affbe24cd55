"""Properties of the projection of one event for one actor, checked with hypothesis.

Random events (data with nested JSON values and fields no grant names), random grants (fields,
envelope includes, rounding steps, time steps, location modes, grid sizes) and random places:
whatever comes in, what goes out is no more than the grant allows, and everything held back is
reported. Plain JSON is the only thing that can pass: bytes, arrays, sets and objects anywhere
in the data are refused.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2  # test-only: real images to refuse; cv2 stays out of gateway/
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.events import EVENT_TYPES
from gateway.messages import Event, ModelRef, utc_iso
from gateway.privacy.policy import OPTIONAL_ENVELOPE, Grant
from gateway.privacy.projection import (
    MAX_STRING,
    METRES_PER_DEGREE,
    Location,
    NotJson,
    actor_id,
    check_json,
    project,
    project_data,
    project_location,
    round_step,
    round_time,
)

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)
ALWAYS = {"schema_version", "id", "type", "actor", "time", "historical", "data"}
ENVELOPE = {"site": "zoetermeer-centrum", "gateway": "gw-0001"}
EARTH_RADIUS_M = 6_371_008.8
NAMES = [
    "band",
    "previous",
    "pm25",
    "pm10",
    "co2",
    "level",
    "zone",
    "confidence",
    "depth_mm",
    "face",
    "plate",
]
STEPS = [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]

names = st.sampled_from(NAMES) | st.text(min_size=1, max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=12,
)
datas = st.dictionaries(names, json_values, max_size=8)
times = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))


@st.composite
def events(draw: st.DrawFn, data: st.SearchStrategy[dict[str, Any]] = datas) -> Event:
    model = draw(st.none() | st.builds(ModelRef, st.text(max_size=8), st.text(max_size=8)))
    return Event(
        type=draw(st.sampled_from(sorted(EVENT_TYPES))),
        source=draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,15}", fullmatch=True)),
        data=draw(data),
        time=draw(times),
        quality=frozenset(draw(st.lists(st.sampled_from(["uncorrected", "high_humidity", "warming_up"])))),
        model=model,
    )


@st.composite
def grants(draw: st.DrawFn) -> Grant:
    fields = draw(st.lists(names, unique=True, max_size=6))
    rounded = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    return Grant(
        events=["*"],
        fields=fields,
        include=draw(st.lists(st.sampled_from(OPTIONAL_ENVELOPE), unique=True)),
        round={name: draw(st.sampled_from(STEPS)) for name in rounded},
        time_round_s=draw(st.sampled_from([1, 10, 60, 900, 3600, 86400]) | st.integers(1, 100_000)),
        location=draw(st.sampled_from(["none", "zone", "grid", "exact"])),
        grid_m=draw(st.floats(10, 5000)),
    )


locations = st.builds(
    Location,
    zone=st.none() | st.sampled_from(["centrum", "noord", "haven"]),
    lat=st.floats(-80, 80),
    lon=st.floats(-179, 179),
)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def is_multiple(value: float, step: float) -> bool:
    quotient = value / step
    return abs(quotient - round(quotient)) <= 1e-6 * max(1.0, abs(quotient))


@SETTINGS
@given(events(), grants(), locations, st.sampled_from(["gemeente", "bewoners", "politie"]))
def test_output_is_no_more_than_the_grant(event: Event, grant: Grant, where: Location, actor: str) -> None:
    projection = project(event, actor, grant, ENVELOPE, where)
    body = projection.body
    assert set(body["data"]) <= set(grant.fields)
    assert set(body) <= ALWAYS | set(grant.include) | {"location"}
    assert set(body) >= ALWAYS
    assert body["actor"] == actor
    assert body["type"] == event.type
    # every name that came in is either passed on or reported as dropped, never both
    assert set(body["data"]) | set(projection.dropped) == set(event.data)
    assert not set(body["data"]) & set(projection.dropped)
    assert len(projection.dropped) == len(set(projection.dropped))
    for name, value in body["data"].items():
        if name not in grant.round or isinstance(value, bool) or not isinstance(value, int | float):
            assert value == event.data[name]


@SETTINGS
@given(times, st.sampled_from([1, 10, 60, 900, 3600, 86400]) | st.integers(1, 100_000))
def test_time_is_rounded_down_and_aligned(t: datetime, step: int) -> None:
    grant = Grant(events=["*"], time_round_s=step)
    body = project(Event("air.summary", "s", {}, time=t), "gemeente", grant, ENVELOPE, Location()).body
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["time"])
    out = datetime.fromisoformat(body["time"])
    assert out <= t
    assert t - out < timedelta(seconds=step)
    assert out.timestamp() % step == 0


@given(times, st.sampled_from([1, 10, 60, 900, 3600]))
def test_timestamps_in_data_are_no_finer_than_the_event_time(t: datetime, step: int) -> None:
    # time_of_fall to the millisecond would undo the grant's time resolution.
    stamp = utc_iso(t)
    grant = Grant(events=["*"], fields=["time_of_fall", "note"], time_round_s=step)
    event = Event("fall.detected", "cam", {"time_of_fall": stamp, "note": "2026-13-01T00:00:00Z"}, time=t)
    projection = project(event, "ambulance", grant, ENVELOPE, Location())
    out = datetime.fromisoformat(projection.body["data"]["time_of_fall"])
    assert out <= t and t - out < timedelta(seconds=step) and out.timestamp() % step == 0
    assert projection.dropped == ("note",)  # shaped like a time but not one


@given(st.text(min_size=1, max_size=40), st.sampled_from(["ambulance", "brandweer"]))
def test_references_become_the_actors_own_ids(ref: str, actor: str) -> None:
    # fall.confirmed's fall_id is the id of the fall.detected it belongs to: the same per actor.
    grant = Grant(events=["*"], fields=["fall_id", "cmd_id"])
    detected = project(Event("fall.detected", "cam", {}, id=ref), actor, grant, ENVELOPE, Location())
    confirmed = project(
        Event("fall.confirmed", "cam", {"fall_id": ref, "cmd_id": 7}), actor, grant, ENVELOPE, Location()
    )
    assert confirmed.body["data"]["fall_id"] == detected.body["id"] != ref
    assert confirmed.body["data"]["cmd_id"] == actor_id(actor, "7")
    other = "politie" if actor != "politie" else "gemeente"
    elsewhere = project(Event("fall.confirmed", "cam", {"fall_id": ref}), other, grant, ENVELOPE, Location())
    assert elsewhere.body["data"]["fall_id"] != confirmed.body["data"]["fall_id"]  # not joinable


def test_time_steps_are_whole_seconds() -> None:
    # Published times have whole seconds, so a fractional step could not stay aligned: refused.
    with pytest.raises(ValidationError):
        Grant(events=["*"], time_round_s=1.5)


@SETTINGS
@given(locations, st.floats(10, 5000))
def test_grid_location_is_a_cell_centre_near_the_point(where: Location, grid_m: float) -> None:
    assert where.lat is not None and where.lon is not None
    grant = Grant(events=["*"], location="grid", grid_m=grid_m)
    out = project_location(where, grant)
    assert out is not None
    assert set(out) == {"lat", "lon", "grid_m"}
    assert out["grid_m"] == grid_m
    lat, lon = out["lat"], out["lon"]
    assert isinstance(lat, float) and isinstance(lon, float)
    # the latitude is the middle of its band (6-decimal rounding moves it < 1 % of a cell)
    lat_cells = lat / (grid_m / METRES_PER_DEGREE)
    assert abs(lat_cells - math.floor(lat_cells) - 0.5) < 0.01
    assert haversine_m(where.lat, where.lon, lat, lon) <= grid_m
    # with derandomized examples this never holds by chance; exact coordinates must not leak
    assert (lat, lon) != (round(where.lat, 6), round(where.lon, 6))


def test_configured_point_is_coarsened_on_a_100_m_grid() -> None:
    grant = Grant(events=["*"], location="grid", grid_m=100)
    out = project_location(Location("centrum", 52.0601, 4.4942), grant)
    assert out is not None
    assert "zone" not in out
    assert (out["lat"], out["lon"]) != (52.0601, 4.4942)
    assert isinstance(out["lat"], float) and isinstance(out["lon"], float)
    assert 0 < haversine_m(52.0601, 4.4942, out["lat"], out["lon"]) <= 100


def test_grid_cells_do_not_depend_on_the_exact_point() -> None:
    grant = Grant(events=["*"], location="grid", grid_m=100)
    first = project_location(Location(None, 52.0601, 4.4942), grant)
    same_cell = project_location(Location(None, 52.0603, 4.4942), grant)
    assert first is not None and same_cell is not None
    assert first["lat"] == same_cell["lat"]  # same 100 m band
    assert first == same_cell
    assert isinstance(first["lat"], float) and isinstance(first["lon"], float)
    # a cell centre lies in its own cell
    assert project_location(Location(None, first["lat"], first["lon"]), grant) == first


@SETTINGS
@given(locations)
def test_zone_and_none_modes_never_yield_coordinates(where: Location) -> None:
    zone = project_location(where, Grant(events=["*"], location="zone"))
    assert zone == (None if where.zone is None else {"zone": where.zone})
    assert project_location(where, Grant(events=["*"], location="none")) is None
    body = project(
        Event("air.summary", "s", {}), "a", Grant(events=["*"], location="none"), ENVELOPE, where
    ).body
    assert "location" not in body


@SETTINGS
@given(st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-(10**6), 10**6), st.sampled_from(STEPS))
def test_rounded_numbers_are_multiples_of_their_step(value: float, step: float) -> None:
    grant = Grant(events=["*"], fields=["x"], round={"x": step})
    data, dropped = project_data({"x": value}, grant)
    out = data["x"]
    assert dropped == []
    assert isinstance(out, float)
    assert is_multiple(out, step)
    assert abs(out - value) <= step / 2 + 1e-9 * max(1.0, abs(value))


@pytest.mark.parametrize(("value", "step"), [(0.75, 0.25), (7.5, 2.5), (0.075, 0.025)])
def test_steps_with_two_significant_digits(value: float, step: float) -> None:
    assert is_multiple(round_step(value, step), step)


def test_huge_number_with_small_step_is_dropped_not_crashing() -> None:
    data, dropped = project_data({"x": 1e308}, Grant(events=["*"], fields=["x"], round={"x": 0.01}))
    assert data == {} and dropped == ["x"]


def _jpeg() -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))  # noqa: TID251  # tests may encode images
    assert ok
    return bytes(encoded)


class Opaque:
    pass


NOT_JSON: list[Any] = [
    b"\xff\xd8\xff\xe0",
    bytearray(b"raw"),
    memoryview(b"raw"),
    np.zeros((4, 4, 3), np.uint8),
    np.int64(3),
    np.array(1.5),
    {1, 2},
    frozenset({"a"}),
    (1, 2),
    Opaque(),
    {1: "non-string key"},
    float("nan"),
    float("inf"),
]


@st.composite
def poisoned(draw: st.DrawFn) -> dict[str, Any]:
    """Valid JSON data with one non-JSON value buried at a random depth."""
    value: Any = draw(st.sampled_from(NOT_JSON))
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            siblings = draw(st.lists(json_values, max_size=3))
            siblings.insert(draw(st.integers(0, len(siblings))), value)
            value = siblings
        else:
            wrapper = draw(st.dictionaries(names, json_values, max_size=3))
            wrapper[draw(names)] = value
            value = wrapper
    data = draw(datas)
    data[draw(names)] = value
    return data


@settings(SETTINGS, max_examples=100)
@given(events(poisoned()), grants(), locations)
def test_non_json_anywhere_in_data_is_refused(event: Event, grant: Grant, where: Location) -> None:
    with pytest.raises(NotJson):
        project(event, "gemeente", grant, ENVELOPE, where)


@pytest.mark.parametrize("value", [*NOT_JSON, _jpeg()], ids=lambda v: type(v).__name__)
def test_check_json_refuses_each_non_json_kind(value: Any) -> None:
    with pytest.raises(NotJson):
        check_json(value)
    with pytest.raises(NotJson):
        check_json({"nested": [1, {"deeper": value}]})


@SETTINGS
@given(
    st.text(min_size=MAX_STRING + 1, max_size=MAX_STRING + 50),
    st.sampled_from(["top", "list", "dict"]),
)
def test_long_strings_are_dropped_and_reported(text: str, where: str) -> None:
    value: Any = {"top": text, "list": [1, text], "dict": {"a": {"b": text}}}[where]
    grant = Grant(events=["*"], fields=["band", "note"])
    data, dropped = project_data({"band": "good", "note": value}, grant)
    assert data == {"band": "good"}
    assert dropped == ["note"]


def test_string_of_max_length_passes() -> None:
    grant = Grant(events=["*"], fields=["note"])
    assert project_data({"note": "x" * MAX_STRING}, grant) == ({"note": "x" * MAX_STRING}, [])


def test_long_keys_of_nested_objects_are_dropped() -> None:
    grant = Grant(events=["*"], fields=["detail"])
    data, dropped = project_data({"detail": {"k" * 5000: 1}}, grant)
    assert data == {}
    assert dropped == ["detail"]


@SETTINGS
@given(
    events(),
    st.sampled_from(["gemeente", "politie", "bewoners"]),
    st.sampled_from(["ambulance", "brandweer"]),
)
def test_actor_ids_are_stable_per_actor_and_differ_between_actors(event: Event, one: str, other: str) -> None:
    grant = Grant(events=["*"])
    first = project(event, one, grant, ENVELOPE, Location()).body["id"]
    assert first == project(event, one, grant, ENVELOPE, Location()).body["id"]
    assert first == actor_id(one, event.id)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != project(event, other, grant, ENVELOPE, Location()).body["id"]
    assert event.id not in first


def test_round_time_and_round_step_examples() -> None:
    t = datetime(2026, 11, 27, 18, 4, 5, 123_000, tzinfo=UTC)
    assert round_time(t, 3600) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert round_time(t, 10) == datetime(2026, 11, 27, 18, 4, 0, tzinfo=UTC)
    assert round_step(31.26, 0.1) == 31.3
    assert round_step(44.0, 10) == 40.0
