"""The flood detector for one water-level sensor: levels, hysteresis, nowcast, artefacts, lost target.

Readings are scripted at 6 Hz as the serial source delivers them (`distance_mm`, or no value with
a `no_target` / `blanked` flag) for a gully sensor 2000 mm above the street, levels 100 / 200 /
300 mm. The nowcast model is a small hand-written fake.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.flood.detector import (
    ALARM,
    CLEARED,
    FAULT_EVENT,
    RECOVERED_EVENT,
    WARNING,
    WATCH,
    FloodDetector,
    FloodSettings,
)
from gateway.messages import Event, ModelRef, Reading
from gateway.timescale import scale_durations

T0 = datetime(2025, 7, 3, 15, 0, tzinfo=UTC)
MOUNT = 2000.0
SETTINGS = FloodSettings(mount_height_mm=MOUNT, levels=(100.0, 200.0, 300.0))
RATE = 6.0
Depth = Callable[[float], float | None]  # scenario seconds -> depth [mm], None = no echo


def q5(mm: float) -> float:
    return 5.0 * round(mm / 5.0)


def reading(t: float, distance: float | None, flag: str = "no_target", source: str = "gully") -> Reading:
    time = T0 + timedelta(seconds=t)
    if distance is None:
        return Reading(source, time, {}, frozenset({flag}))
    return Reading(source, time, {"distance_mm": distance})


def run(
    det: FloodDetector, seconds: float, depth: Depth, start: float = 0.0, rate: float = RATE
) -> list[Event]:
    events: list[Event] = []
    for i in range(round(seconds * rate)):
        t = start + i / rate
        d = depth(t)
        events += det.on_reading(reading(t, None if d is None else q5(MOUNT - d)))
    return events


def ramp(*points: tuple[float, float]) -> Depth:
    """Piecewise-linear depth through (t, depth) points."""

    def depth(t: float) -> float:
        for (t0, d0), (t1, d1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                return d0 + (d1 - d0) * (t - t0) / (t1 - t0)
        return points[-1][1] if t > points[-1][0] else points[0][1]

    return depth


def kinds(events: Sequence[Event]) -> list[str]:
    return [e.type for e in events]


class RisingNowcaster:
    """A fake model: confident of a crossing when the last 5 minutes rose faster than 1 mm/min per
    mm still to go; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[float], list[float], float]] = []

    @property
    def model(self) -> ModelRef:
        return ModelRef("fake-nowcast", "1")

    def crossing_probabilities(
        self, times_s: Sequence[float], depths_mm: Sequence[float], threshold_mm: float
    ) -> tuple[float, float]:
        self.calls.append((list(times_s), list(depths_mm), threshold_mm))
        recent = [(t, d) for t, d in zip(times_s, depths_mm, strict=True) if t >= times_s[-1] - 300]
        rate = (recent[-1][1] - recent[0][1]) / max(1.0, recent[-1][0] - recent[0][0]) * 60  # mm/min
        to_go = threshold_mm - depths_mm[-1]
        if to_go <= 0 or rate * 15 >= to_go:
            return 0.95, 0.99
        return (0.6, 0.9) if rate * 30 >= to_go else (0.05, 0.1)


def test_a_flood_rises_through_every_level_and_clears() -> None:
    det = FloodDetector("gully", SETTINGS)
    flood = ramp((0, 0), (600, 0), (1500, 350), (2400, 350), (3300, 0), (5400, 0))
    events = run(det, 5400, flood)
    # The water falls 117 mm during the 300 s hold, so the level falls from alarm straight to watch.
    assert kinds(events) == [WATCH, WARNING, ALARM, WATCH, CLEARED]
    watch, warning, alarm, fall, cleared = events
    # 100 mm is reached at t = 857 s; burst, level window and 5 mm steps cost seconds, not minutes.
    assert 857 <= (watch.time - T0).total_seconds() <= 880
    assert watch.data == {
        "level": "watch",
        "previous": "none",
        "depth_mm": watch.data["depth_mm"],
        "trigger": "measured",
        "threshold_mm": 100.0,
    }
    assert 100 <= int(str(watch.data["depth_mm"])) <= 110
    assert (warning.data["previous"], alarm.data["previous"]) == ("watch", "warning")
    assert watch.model is None and watch.quality == frozenset()
    assert (fall.data["level"], fall.data["previous"]) == ("watch", "alarm")
    # Falls wait for the hold below level - hysteresis: 275 mm at t = 2593 s, + 300 s.
    assert 2893 <= (fall.time - T0).total_seconds() <= 2925
    assert cleared.data["previous"] == "watch"
    assert cleared.data["duration_s"] == pytest.approx((cleared.time - watch.time).total_seconds(), abs=1)
    assert det.level == "none"


def test_a_level_hovering_at_a_boundary_raises_once() -> None:
    det = FloodDetector("gully", SETTINGS)
    hover = lambda t: 0.0 if t < 300 else 100 + 15 * math.sin(t / 40.0)
    events = run(det, 7200, hover)
    assert kinds(events) == [WATCH]


def test_a_jump_of_two_levels_gives_one_event() -> None:
    det = FloodDetector("gully", SETTINGS)
    events = run(det, 900, ramp((0, 0), (300, 0), (305, 250)))  # a wall of water
    assert kinds(events) == [WARNING]
    assert events[0].data["previous"] == "none"


def test_a_confident_nowcast_raises_a_level_before_the_water() -> None:
    fake = RisingNowcaster()
    det = FloodDetector("gully", SETTINGS, fake)
    events = run(det, 1800, ramp((0, 0), (600, 0), (1500, 150), (1800, 150)))
    first = events[0]
    assert first.type == WATCH and first.data["trigger"] == "nowcast"
    assert (first.time - T0).total_seconds() < 1200  # measured crossing: t = 1200 s
    assert first.model == ModelRef("fake-nowcast", "1")
    assert first.data["probability_15min"] == 0.95 and first.data["probability_30min"] == 0.99
    assert "nowcast" in first.quality
    assert WATCH not in kinds(events[1:])  # the measured crossing later is no second event
    times, depths, _ = fake.calls[-1]
    assert times == sorted(times) and times[-1] == 0.0 and times[0] >= -3600
    assert len(times) == len(depths) <= 121


def test_nowcast_sees_real_seconds_under_time_scaling() -> None:
    fake = RisingNowcaster()
    scaled = scale_durations(SETTINGS, 1 / 60)
    det = FloodDetector("gully", scaled, fake)
    # The same flood played 60 times faster, frames also 60 times faster (as the simulator does).
    run(det, 1800 / 60, lambda t: ramp((0, 0), (600, 0), (1500, 150))(t * 60), rate=RATE * 60)
    times, _, _ = fake.calls[-1]
    assert -3600 <= times[0] <= -300  # minutes of real time, not seconds of wall time


def test_a_nowcast_level_that_does_not_come_falls_back_after_the_hold() -> None:
    fake = RisingNowcaster()
    det = FloodDetector("gully", SETTINGS, fake)
    events = run(det, 4000, ramp((0, 0), (600, 0), (1400, 60), (4000, 60)))  # 4.5 mm/min, then still
    assert kinds(events) == [WATCH, CLEARED]
    assert events[0].data["trigger"] == "nowcast" and events[1].data["trigger"] == "measured"


def test_artefacts_on_a_dry_street_never_raise_an_event() -> None:
    """Debris frames, multipath episodes, no-target and blanked runs over a dry street."""
    det = FloodDetector("gully", SETTINGS)

    def artefacts(t: float) -> float | None:
        k = int(t * RATE)
        if 1000 <= t % 1800 < 1015:
            return 1200.0  # multipath: 800 mm short for 15 s
        if 300 <= t % 1800 < 420:
            return None  # no echo for two minutes
        if k % 13 == 0:
            return 1700.0  # debris: single frames 300 mm short
        return 0.0

    events = []
    for i in range(round(7200 * RATE)):
        t = i / RATE
        d = artefacts(t)
        if d is None:
            events += det.on_reading(reading(t, None))
        elif d in {1200.0, 1700.0}:
            events += det.on_reading(reading(t, MOUNT - d))
        else:
            events += det.on_reading(reading(t, MOUNT))
        if i % 997 == 0:
            events += det.on_reading(reading(t, None, flag="blanked"))
    assert events == []


def test_quality_flags_name_recent_filter_trouble() -> None:
    det = FloodDetector("gully", SETTINGS)
    run(det, 600, lambda t: None if 400 <= t < 430 else 0.0)
    events = run(det, 1200, lambda t: 200.0 if t % 7 < 0.2 else min(150.0, (t - 600) / 2), start=600)
    assert kinds(events) == [WATCH]
    assert events[0].quality == {"no_target_recent", "filtered_outliers"}


def test_a_lost_target_is_a_fault_where_the_ground_is_in_range() -> None:
    det = FloodDetector("gully", SETTINGS)
    events = run(det, 4000, lambda t: None if 100 <= t < 2400 else 0.0)
    assert kinds(events) == [FAULT_EVENT, RECOVERED_EVENT]
    fault, recovered = events
    assert fault.data["faults"] == ["lost_target"] and fault.data["active"] == ["lost_target"]
    assert (fault.time - T0).total_seconds() == pytest.approx(1900, abs=5)
    assert recovered.data["duration_s"] == pytest.approx(2300, abs=40)


def test_no_target_is_normal_where_water_falls_out_of_range() -> None:
    tidal = FloodSettings(mount_height_mm=5000.0, levels=(3670.0, 4170.0, 4430.0))
    det = FloodDetector("quay", tidal)
    events = []
    for i in range(3 * 3600):
        events += det.on_reading(reading(float(i), None, source="quay"))
    assert events == []


def test_warming_up_readings_are_ignored() -> None:
    det = FloodDetector("gully", SETTINGS)
    events = []
    for i in range(600):
        r = Reading(
            "gully", T0 + timedelta(seconds=i / RATE), {"distance_mm": 1500.0}, frozenset({"warming_up"})
        )
        events += det.on_reading(r)
    assert events == [] and det.depth_mm is None


def test_same_readings_same_events() -> None:
    flood = ramp((0, 0), (300, 0), (900, 250), (1500, 0))
    a = run(FloodDetector("gully", SETTINGS), 2400, flood)
    b = run(FloodDetector("gully", SETTINGS), 2400, flood)
    assert [(e.type, e.time, dict(e.data), e.quality) for e in a] == [
        (e.type, e.time, dict(e.data), e.quality) for e in b
    ]


def test_a_clock_step_back_does_not_invent_water() -> None:
    fake = RisingNowcaster()
    det = FloodDetector("gully", SETTINGS, fake)
    run(det, 900, lambda t: 50.0)
    calls = len(fake.calls)
    assert run(det, 900, lambda t: 50.0, start=-3600) == []
    assert len(fake.calls) > calls  # the nowcast runs again on the new time base


def test_readings_of_another_source_are_refused() -> None:
    det = FloodDetector("gully", SETTINGS)
    with pytest.raises(ValueError, match="fed to the detector"):
        det.on_reading(reading(0.0, 1000.0, source="other"))


@pytest.mark.parametrize(
    "changes",
    [{"levels": (100.0, 100.0, 300.0)}, {"levels": (100.0, 200.0, 2500.0)}, {"hysteresis_mm": 150.0}],
)
def test_settings_are_checked(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(SETTINGS, **changes)  # type: ignore[arg-type]
