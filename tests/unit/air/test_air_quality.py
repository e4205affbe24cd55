"""The air-quality detector for one source: bands, CO2 levels, humidity correction, quality flags.

Readings are scripted at 1 Hz from a fixed epoch; time comes only from the readings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.air.detector import (
    BAND_CHANGED,
    CO2_HIGH,
    CO2_NORMAL,
    AirQualityDetector,
    AirQualitySettings,
)
from gateway.messages import Event, ModelRef, Reading

T0 = datetime(2024, 11, 1, 18, 0, tzinfo=UTC)
JITTER = (0.0, 0.1, 0.3, 0.2, -0.1, 0.0, 0.2, -0.2, 0.1, -0.3)


class HalvingCorrector:
    """A fake humidity model: halves PM2.5 above 80 % RH, leaves it alone below."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    @property
    def model(self) -> ModelRef:
        return ModelRef("fake-growth", "1")

    def correct(self, pm25: float, humidity: float) -> float:
        self.calls.append((pm25, humidity))
        return pm25 / 2 if humidity > 80 else pm25


def pm(t: int, pm25: float, pm10: float | None = None, **extra: float) -> Reading:
    values = {"pm25": round(pm25 + JITTER[t % 10], 1), **extra}
    if pm10 is not None:
        values["pm10"] = round(pm10 + JITTER[(t + 3) % 10], 1)
    return Reading("sds-1", T0 + timedelta(seconds=t), values)


def co2(t: int, ppm: float) -> Reading:
    return Reading("mhz-1", T0 + timedelta(seconds=t), {"co2": ppm + (t % 5) - 2, "temperature": 21.0})


def run(det: AirQualityDetector, readings: Iterable[Reading], humidity: float | None = None) -> list[Event]:
    events: list[Event] = []
    for r in readings:
        events.extend(det.on_reading(r, humidity))
    return events


def bands(events: list[Event]) -> list[tuple[object, object]]:
    return [(e.data["previous"], e.data["band"]) for e in events if e.type == BAND_CHANGED]


def test_first_band_is_reported_once_when_the_window_has_enough_readings() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(min_readings=5), None)
    events = run(det, (pm(t, 8.0, 12.0) for t in range(600)))
    assert bands(events) == [(None, "good")]
    assert events[0].time == T0 + timedelta(seconds=4)
    assert det.band == "good"


def test_smoke_rise_and_fall_with_hysteresis() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), None)
    stream = [pm(t, 8.0, 12.0) for t in range(600)]
    stream += [pm(t, 60.0, 70.0) for t in range(600, 1800)]
    stream += [
        pm(t, 60.0 - 52.0 * (t - 1800) / 1800, 70.0 - 58.0 * (t - 1800) / 1800) for t in range(1800, 3600)
    ]
    stream += [pm(t, 8.0, 12.0) for t in range(3600, 4500)]
    events = run(det, stream)
    assert bands(events) == [
        (None, "good"),
        ("good", "fair"),
        ("fair", "moderate"),
        ("moderate", "poor"),
        ("poor", "very_poor"),
        ("very_poor", "poor"),
        ("poor", "moderate"),
        ("moderate", "fair"),
        ("fair", "good"),
    ]
    rise = events[4]
    assert rise.data["pollutant"] == "pm25"
    assert rise.data["table"] == "2017"
    assert rise.data["pm25"] == pytest.approx(50.0, abs=0.5)
    # Falls wait for the mean to drop 10 % below the boundary: 25 -> poor is left below 22.5.
    fall_to_moderate = next(
        e for e in events if e.data["band"] == "moderate" and e.data["previous"] == "poor"
    )
    assert float(str(fall_to_moderate.data["pm25"])) < 22.5


def test_a_sudden_clearing_falls_in_one_step_after_the_hold() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(window_s=60.0), None)
    stream = [pm(t, 60.0, 70.0) for t in range(600)] + [pm(t, 8.0, 12.0) for t in range(600, 1200)]
    events = run(det, stream)
    assert bands(events) == [(None, "very_poor"), ("very_poor", "good")]
    # The 60 s mean drops under 45 (leaving "very_poor") at ~618 s; the lower band holds 120 s.
    assert T0 + timedelta(seconds=730) < events[1].time < T0 + timedelta(seconds=745)


def test_value_oscillating_around_a_boundary_yields_one_event() -> None:
    settings = AirQualitySettings(window_s=60.0)
    det = AirQualityDetector("sds-1", settings, None)
    settled = [pm(t, 20.0) for t in range(120)]  # moderate, first band reported
    hovering = [
        Reading("sds-1", T0 + timedelta(seconds=t), {"pm25": 25.5 if t % 2 else 24.5})
        for t in range(120, 2000)
    ]
    events = run(det, settled)
    assert bands(events) == [(None, "moderate")]
    assert bands(run(det, hovering)) == [("moderate", "poor")]


def test_raw_value_oscillating_with_a_one_reading_window_yields_one_event() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(window_s=0.5, min_readings=1), None)
    stream = [
        Reading("sds-1", T0 + timedelta(seconds=t), {"pm25": 25.5 if t % 2 else 24.5}) for t in range(200)
    ]
    assert bands(run(det, stream)) == [(None, "moderate"), ("moderate", "poor")]


def test_pm10_can_decide_the_band() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), None)
    events = run(det, (pm(t, 8.0, 45.0) for t in range(60)))
    assert bands(events) == [(None, "moderate")]
    assert events[0].data["pollutant"] == "pm10"


def test_2024_table_is_selectable() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(eaqi_table="2024"), None)
    events = run(det, (pm(t, 8.0, 12.0) for t in range(60)))
    assert bands(events) == [(None, "fair")]
    assert events[0].data["table"] == "2024"


def test_unknown_table_is_rejected() -> None:
    with pytest.raises(ValueError, match="eaqi_table"):
        AirQualitySettings(eaqi_table="2013")  # type: ignore[arg-type]  # the point of the test


def test_without_humidity_events_are_flagged_uncorrected() -> None:
    corrector = HalvingCorrector()
    det = AirQualityDetector("sds-1", AirQualitySettings(), corrector)
    events = run(det, (pm(t, 30.0, 35.0) for t in range(60)))
    assert bands(events) == [(None, "poor")]
    assert events[0].quality == frozenset({"uncorrected"})
    assert events[0].data["corrected"] is False
    assert events[0].model is None
    assert corrector.calls == []


def test_without_a_corrector_events_are_flagged_uncorrected() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), None)
    events = run(det, (pm(t, 30.0, 35.0) for t in range(60)), humidity=90.0)
    assert events[0].quality == frozenset({"uncorrected"})


def test_paired_humidity_corrects_pm25_and_scales_pm10_by_the_same_ratio() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), HalvingCorrector())
    events = run(det, (pm(t, 30.0, 35.0) for t in range(60)), humidity=90.0)
    assert bands(events) == [(None, "fair")]  # 30 raw would be poor; corrected 15 is fair, PM10 17.5 good
    event = events[0]
    assert event.data["corrected"] is True
    assert event.model == ModelRef("fake-growth", "1")
    assert event.quality == frozenset()
    assert event.data["pm25"] == pytest.approx(15.0, abs=0.1)
    assert event.data["pm10"] == pytest.approx(17.5, abs=0.2)


def test_own_humidity_wins_over_the_paired_one() -> None:
    corrector = HalvingCorrector()
    det = AirQualityDetector("sds-1", AirQualitySettings(), corrector)
    run(det, (pm(t, 30.0, 35.0, humidity=50.0) for t in range(10)), humidity=90.0)
    assert {h for _, h in corrector.calls} == {50.0}


def test_high_humidity_is_flagged() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), HalvingCorrector())
    events = run(det, (pm(t, 30.0, 35.0) for t in range(60)), humidity=97.0)
    assert events[0].quality == frozenset({"high_humidity"})


def test_warm_up_readings_are_not_used() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), None)
    warming = [
        Reading("sds-1", T0 + timedelta(seconds=t), {"pm25": 0.0}, frozenset({"warming_up"}))
        for t in range(30)
    ]
    assert run(det, warming) == []
    events = run(det, (pm(t, 30.0) for t in range(30, 40)))
    assert bands(events) == [(None, "poor")]
    assert events[0].time == T0 + timedelta(seconds=34)
    assert events[0].data["pm25"] == pytest.approx(30.0, abs=0.2)


def test_readings_under_a_fault_verdict_are_not_used() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), None)
    events = run(det, (pm(t, 8.0) for t in range(100)))
    broken = [Reading("sds-1", T0 + timedelta(seconds=t), {"pm25": 5000.0}) for t in range(100, 400)]
    events += run(det, broken)
    assert bands(events) == [(None, "good")]
    assert [e.type for e in events[1:]] == ["sensor.fault"]
    assert det.fault_kinds == frozenset({"out_of_range"})


def test_readings_before_a_fan_failure_verdict_are_purged_from_the_window() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(window_s=3600.0), None)
    stream = [pm(t, 10.5, 14.7) for t in range(200)]
    for t in range(200, 1500):  # the fan stops at 200 s: PM decays to 0 within a minute
        left = max(0.0, 1.0 - (t - 200) / 60.0)
        stream.append(Reading("sds-1", T0 + timedelta(seconds=t), {"pm25": 10.5 * left, "pm10": 14.7 * left}))
    stream += [pm(t, 40.0, 56.0) for t in range(1500, 2000)]
    events = run(det, stream)
    # The mean falls under 9 (leaving "fair") at 269 s, but a fall must hold for 120 s and the
    # fan verdict comes first, at 316 s: no false "good" is published.
    assert [e.type for e in events[:3]] == [BAND_CHANGED, "sensor.fault", "sensor.recovered"]
    # The verdict drops the decaying readings from ~230 s on. With them purged, the mean after
    # recovery (first usable reading at 1620 s) reaches 20 after 113 readings; had they stayed in
    # the window it would take 193.
    rise = next(e for e in events if e.data.get("band") == "moderate")
    assert T0 + timedelta(seconds=1700) < rise.time < T0 + timedelta(seconds=1760)


def test_co2_levels_rise_and_fall_with_hysteresis() -> None:
    det = AirQualityDetector("mhz-1", AirQualitySettings(window_s=60.0), None)
    stream = [co2(t, 450.0) for t in range(300)]
    stream += [co2(t, 900.0) for t in range(300, 600)]
    stream += [co2(t, 1300.0) for t in range(600, 900)]
    stream += [co2(t, 1000.0) for t in range(900, 1200)]  # high -> elevated: no event
    stream += [co2(t, 780.0) for t in range(1200, 1500)]  # under 800 but not under 750
    stream += [co2(t, 1300.0) for t in range(1500, 1800)]
    stream += [co2(t, 600.0) for t in range(1800, 2100)]
    events = run(det, stream)
    summary = [(e.type, e.data.get("level"), e.data["previous"]) for e in events]
    assert summary == [
        (CO2_HIGH, "elevated", "normal"),
        (CO2_HIGH, "high", "elevated"),
        (CO2_HIGH, "high", "elevated"),
        (CO2_NORMAL, "normal", "elevated"),  # the 60 s mean passes through "elevated" on the way down
    ]
    assert 800 <= int(str(events[0].data["co2"])) < 815
    assert det.co2_level == "normal"


def test_co2_already_high_at_start_is_reported_once() -> None:
    det = AirQualityDetector("mhz-1", AirQualitySettings(), None)
    events = run(det, (co2(t, 1500.0) for t in range(600)))
    assert [(e.type, e.data["level"], e.data["previous"]) for e in events] == [(CO2_HIGH, "high", None)]


def test_same_readings_give_the_same_events() -> None:
    stream = [pm(t, 8.0 + t / 20, 12.0 + t / 15, humidity=60 + t / 60) for t in range(1800)]

    def outcome() -> list[tuple[object, ...]]:
        det = AirQualityDetector("sds-1", AirQualitySettings(), HalvingCorrector())
        return [(e.type, e.time, dict(e.data), e.quality, e.model) for e in run(det, stream)]

    first = outcome()
    assert len(first) > 3
    assert first == outcome()


def test_reading_from_another_source_is_a_bug() -> None:
    det = AirQualityDetector("sds-1", AirQualitySettings(), None)
    with pytest.raises(ValueError, match="mhz-1"):
        det.on_reading(co2(0, 500.0))


def scd41(minute: int, ppm: float) -> Reading:
    """A battery SCD41 node: one reading every 10 minutes."""
    t = T0 + timedelta(minutes=minute)
    return Reading("scd-1", t, {"co2": ppm + minute % 7, "temperature": 19.5, "humidity": 55.0})


def test_a_sensor_reporting_every_10_minutes_gets_co2_decisions() -> None:
    det = AirQualityDetector("scd-1", AirQualitySettings(), None)
    events = run(det, [scd41(m, 1300.0) for m in range(0, 60, 10)])
    high = [e for e in events if e.type == CO2_HIGH]
    assert [(e.data["level"], e.time) for e in high] == [("high", T0 + timedelta(minutes=10))]
    assert det.min_readings == 1  # 300 s window / 600 s interval: only one reading ever fits
    events = run(det, [scd41(m, 600.0) for m in range(60, 90, 10)])
    co2_events = [(e.type, e.data["level"]) for e in events if e.type in (CO2_HIGH, CO2_NORMAL)]
    assert co2_events == [(CO2_NORMAL, "normal")]


def test_a_fast_sensor_still_needs_min_readings() -> None:
    det = AirQualityDetector("mhz-1", AirQualitySettings(), None)
    assert run(det, [co2(t, 1300.0) for t in range(4)]) == []
    assert [e.type for e in run(det, [co2(4, 1300.0)])] == [CO2_HIGH]
    assert det.min_readings == 5
