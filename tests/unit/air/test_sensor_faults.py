"""Fault verdicts from a reading stream: each kind starts once and recovers once, after a hold.

Streams are scripted at 1 Hz from a fixed epoch; jitter is a fixed pattern, so every run is the same.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.air.sensor_faults import (
    FAULT_EVENT,
    RECOVERED_EVENT,
    FaultSettings,
    FaultVerdict,
    SensorFaultDetector,
)
from gateway.messages import Event, Reading

T0 = datetime(2024, 11, 1, 18, 0, tzinfo=UTC)
JITTER = (0.0, 0.1, 0.3, 0.2, -0.1, 0.0, 0.2, -0.2, 0.1, -0.3)


def reading(t: float, flags: Iterable[str] = (), **values: float) -> Reading:
    return Reading("sds-1", T0 + timedelta(seconds=t), values, frozenset(flags))


def jittered(t: int, pm25: float, pm10: float) -> Reading:
    return reading(t, pm25=round(pm25 + JITTER[t % 10], 1), pm10=round(pm10 + JITTER[(t + 3) % 10], 1))


def feed(det: SensorFaultDetector, readings: Iterable[Reading]) -> tuple[list[FaultVerdict], list[Event]]:
    verdicts: list[FaultVerdict] = []
    events: list[Event] = []
    for r in readings:
        verdict, new = det.on_reading(r)
        verdicts.append(verdict)
        events.extend(new)
    return verdicts, events


def kinds(events: list[Event]) -> list[tuple[str, object]]:
    return [(e.type, e.data["faults"]) for e in events]


def test_jittering_sensor_has_no_fault() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    verdicts, events = feed(det, (jittered(t, 12.0, 18.0) for t in range(3600)))
    assert events == []
    assert all(v.usable for v in verdicts)


def test_clean_air_at_the_resolution_limit_is_not_stuck() -> None:
    # SDS011 in very clean air: PM2.5 sits at 0.0 for an hour, but PM10 still moves by 0.1.
    det = SensorFaultDetector("sds-1", FaultSettings())
    _, events = feed(det, (reading(t, pm25=0.0, pm10=1.2 + 0.1 * (t % 3)) for t in range(3600)))
    assert events == []


def test_stuck_starts_once_and_recovers_once() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    stream = [jittered(t, 12.0, 18.0) for t in range(300)]
    stream += [reading(t, pm25=12.3, pm10=18.1) for t in range(300, 1500)]
    stream += [jittered(t, 12.0, 18.0) for t in range(1500, 2000)]
    verdicts, events = feed(det, stream)
    assert kinds(events) == [(FAULT_EVENT, ["stuck"]), (RECOVERED_EVENT, ["stuck"])]
    fault, recovered = events
    assert fault.time == T0 + timedelta(seconds=300 + 600)
    assert verdicts[900].purge_from == T0 + timedelta(seconds=300)  # the run began at 300 s
    assert recovered.time == T0 + timedelta(seconds=1500 + 120)  # after the recovery hold
    assert recovered.data["duration_s"] == 720.0
    assert not verdicts[1600].usable  # still inside the hold
    assert verdicts[1700].usable


def test_out_of_range_needs_consecutive_readings() -> None:
    det = SensorFaultDetector("mhz-1", FaultSettings())
    stream = [reading(t, co2=600.0 + t % 7) for t in range(20)]
    stream.insert(10, reading(9.5, co2=15000.0))  # one glitch: dropped quietly
    verdicts, events = feed(det, stream)
    assert events == []
    assert [v.usable for v in verdicts].count(False) == 1


def test_out_of_range_fault_and_recovery() -> None:
    det = SensorFaultDetector("mhz-1", FaultSettings())
    stream = [reading(t, co2=600.0 + t % 7) for t in range(20)]
    stream += [reading(t, co2=12000.0) for t in range(20, 30)]
    stream += [reading(t, co2=600.0 + t % 7) for t in range(30, 200)]
    _, events = feed(det, stream)
    assert kinds(events) == [(FAULT_EVENT, ["out_of_range"]), (RECOVERED_EVENT, ["out_of_range"])]
    assert events[0].time == T0 + timedelta(seconds=22)
    assert "co2=12000 outside [300, 10000]" in str(events[0].data["detail"])
    assert events[1].time == T0 + timedelta(seconds=150)


def test_ranges_are_settable_per_key() -> None:
    det = SensorFaultDetector("mhz-1", FaultSettings(ranges={"co2": (0.0, 5000.0)}))
    verdicts, _ = feed(det, [reading(0, co2=100.0), reading(1, co2=6000.0)])
    assert [v.usable for v in verdicts] == [True, False]


def test_isolated_spike_is_dropped_without_an_event() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    stream = [jittered(t, 12.0, 18.0) for t in range(60)]
    stream[30] = reading(30, pm25=480.0, pm10=520.0)
    verdicts, events = feed(det, stream)
    assert events == []
    assert [i for i, v in enumerate(verdicts) if not v.usable] == [30]


def test_real_step_is_not_a_spike() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    stream = [jittered(t, 12.0, 18.0) for t in range(60)]
    stream += [jittered(t, 300.0, 400.0) for t in range(60, 400)]
    verdicts, events = feed(det, stream)
    assert events == []
    assert [i for i, v in enumerate(verdicts) if not v.usable] == [60]  # only the first, pending


def test_repeated_spikes_make_an_implausible_jump_fault() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    stream = [jittered(t, 12.0, 18.0) for t in range(600)]
    for t in (100, 140, 180):
        stream[t] = reading(t, pm25=600.0, pm10=700.0)
    _, events = feed(det, stream)
    assert kinds(events) == [(FAULT_EVENT, ["implausible_jump"]), (RECOVERED_EVENT, ["implausible_jump"])]
    assert events[0].time == T0 + timedelta(seconds=181)  # the third spike is confirmed by 181
    # Spikes age out of the 300 s window at 100 + 300 = 400; then the 120 s hold.
    assert events[1].time == T0 + timedelta(seconds=401 + 120)


def test_warm_up_readings_are_unusable_and_quiet_by_default() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    stream = [reading(t, ["warming_up"], pm25=0.0, pm10=0.0) for t in range(30)]
    stream += [jittered(t, 12.0, 18.0) for t in range(30, 40)]
    verdicts, events = feed(det, stream)
    assert events == []
    assert verdicts[0].active == frozenset({"warm_up"})
    assert [v.usable for v in verdicts] == [False] * 30 + [True] * 10


def test_warm_up_can_be_reported() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings(report_warm_up=True))
    stream = [reading(t, ["warming_up"], pm25=0.0, pm10=0.0) for t in range(30)]
    stream += [jittered(t, 12.0, 18.0) for t in range(30, 40)]
    _, events = feed(det, stream)
    assert kinds(events) == [(FAULT_EVENT, ["warm_up"]), (RECOVERED_EVENT, ["warm_up"])]
    assert events[1].time == T0 + timedelta(seconds=30)  # warm-up ends with the flag, no hold


def dying_fan(before: float, fail_at: int, recover_at: int, end: int) -> list[Reading]:
    stream = [jittered(t, before, before * 1.4) for t in range(fail_at)]
    for t in range(fail_at, recover_at):
        left = max(0.0, 1.0 - (t - fail_at) / 60.0)
        stream.append(reading(t, pm25=round(before * left, 1), pm10=round(before * 1.4 * left, 1)))
    stream += [jittered(t, before, before * 1.4) for t in range(recover_at, end)]
    return stream


def test_fan_failure_starts_once_subsumes_stuck_and_recovers() -> None:
    det = SensorFaultDetector("sds-1", FaultSettings())
    verdicts, events = feed(det, dying_fan(14.0, fail_at=900, recover_at=2700, end=3000))
    # 1800 s of exact zeros would also be "stuck", but the fan explains them.
    assert kinds(events) == [(FAULT_EVENT, ["fan_failure"]), (RECOVERED_EVENT, ["fan_failure"])]
    fault = events[0]
    collapsed = 900 + 57  # PM10 19.6 * 3/60 = 0.98: every PM key at or under the 1.0 floor from here
    assert fault.time == T0 + timedelta(seconds=collapsed + 60)
    purge = verdicts[collapsed + 60].purge_from
    assert purge is not None
    assert T0 + timedelta(seconds=899) <= purge <= T0 + timedelta(seconds=931)  # where the decay began
    assert events[1].time == T0 + timedelta(seconds=2700 + 120)


def test_clean_air_drifting_to_zero_is_not_a_fan_failure() -> None:
    det = SensorFaultDetector("pms-1", FaultSettings())
    # PM falls from 3 to ~0.5 over half an hour and jitters there: never dirty, no collapse.
    stream = [
        reading(t, pm1=0.0, pm25=max(0.5, 3.0 - t / 720) + 0.1 * (t % 2), pm10=0.6 + 0.1 * (t % 3))
        for t in range(3600)
    ]
    _, events = feed(det, stream)
    assert events == []


def test_a_new_kind_during_a_fault_is_one_more_event() -> None:
    det = SensorFaultDetector("mhz-1", FaultSettings())
    stream = [reading(t, co2=620.0) for t in range(700)]  # stuck from 0, verdict at 600
    stream += [reading(t, co2=20000.0) for t in range(700, 710)]
    stream += [reading(t, co2=600.0 + t % 7) for t in range(710, 900)]
    _, events = feed(det, stream)
    assert kinds(events) == [
        (FAULT_EVENT, ["stuck"]),
        (FAULT_EVENT, ["out_of_range"]),
        (RECOVERED_EVENT, ["out_of_range", "stuck"]),
    ]
    second: Mapping[str, object] = events[1].data
    assert second["active"] == ["out_of_range", "stuck"]


# --- Range edges: every key, at, just inside and beyond each end -----------------------------------------

RANGES = FaultSettings().ranges
EDGE_OFFSETS = (-1.0, -0.1, 0.0, 0.1, 1.0)


def test_a_value_below_the_minimum_of_the_first_key_is_a_verdict_not_a_crash() -> None:
    det = SensorFaultDetector("mhz-1", FaultSettings())
    assert det.on_reading(reading(0, co2=299.0))[0].usable is False  # raised NameError ('hi')
    assert det.on_reading(reading(1, humidity=-1.0, pm25=3.0))[0].usable is False
    _, events = feed(det, [reading(2, co2=299.0)])
    assert kinds(events) == [(FAULT_EVENT, ["out_of_range"])]
    assert "co2=299 outside [300, 10000]" in str(events[0].data["detail"])


@st.composite
def edge_readings(draw: st.DrawFn) -> dict[str, float]:
    """A reading whose keys sit at, inside or beyond an end of their ranges."""
    keys = draw(st.lists(st.sampled_from(sorted(RANGES)), min_size=1, max_size=len(RANGES), unique=True))
    values = {}
    for key in keys:
        lo, hi = RANGES[key]
        edge = draw(st.sampled_from((lo, hi)))
        values[key] = edge + draw(st.sampled_from(EDGE_OFFSETS))
    return values


@settings(max_examples=300, deadline=None)
@given(edge_readings(), st.integers(min_value=1, max_value=4))
def test_readings_at_and_beyond_every_range_edge(values: dict[str, float], repeats: int) -> None:
    det = SensorFaultDetector("s-1", FaultSettings())
    inside = all(RANGES[k][0] <= v <= RANGES[k][1] for k, v in values.items())
    verdicts, events = feed(det, [reading(t, **values) for t in range(repeats)])
    if inside:
        assert all(v.usable for v in verdicts)
        assert all("out_of_range" not in v.active for v in verdicts)
    else:
        assert not any(v.usable for v in verdicts)
        out = repeats >= FaultSettings().range_min_readings
        assert ("out_of_range" in verdicts[-1].active) is out
        assert [e.data["faults"] for e in events] == ([["out_of_range"]] if out else [])


def test_a_day_of_1hz_readings_keeps_the_fan_baseline_bounded() -> None:
    """Clean-but-not-zero air all day (PM never below 1 ug/m3): memory must not grow with uptime."""
    det = SensorFaultDetector("pms-1", FaultSettings())
    tracemalloc.start()
    try:
        feed(det, (jittered(t, 8.0, 12.0) for t in range(3600)))
        after_an_hour = tracemalloc.get_traced_memory()[0]
        feed(det, (jittered(t, 8.0, 12.0) for t in range(3600, 86_400)))
        after_a_day = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_a_day - after_an_hour < 100_000, f"grew {after_a_day - after_an_hour} bytes in 23 h"


def test_the_fan_check_still_sees_a_stopped_fan_after_hours() -> None:
    det = SensorFaultDetector("pms-1", FaultSettings())
    feed(det, (jittered(t, 20.0, 30.0) for t in range(7200)))
    _, events = feed(det, (reading(t, pm25=0.0, pm10=0.1 * (t % 2)) for t in range(7200, 7400)))
    assert kinds(events) == [(FAULT_EVENT, ["fan_failure"])]
