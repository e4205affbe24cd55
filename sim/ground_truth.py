"""Ground truth: the events a perfect gateway emits for a scenario, from the TRUE air and water.

Computed from `Scenario.air_fn` (the air itself, the still-water depth), not from what the devices
report, with the gateway's detector rules restated here: trailing-window means, EAQI bands with
hysteresis and a fall hold, CO2 levels, flood levels with hysteresis and a fall hold, and the
device and link faults a gateway with default settings can confirm. Waves, debris, multipath and
lost echoes are misreadings, never in the truth: a flood event they cause is a false event.

The EAQI table is a copy kept here on purpose, not imported from `gateway.air.eaqi`: the
ground truth must not share a transcription error with the code it judges (a unit test compares
the two copies).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from sim.scenario import DEVICE_FAULTS, MEASURED, Scenario, SensorSpec

# Warm-up: datasheet values, as the gateway's protocols use them (copied, not imported).
WARMUP_S: Mapping[str, float] = {"sds011": 30.0, "pms5003": 30.0, "pms5003t": 30.0, "mhz19": 180.0}
# Shortest device faults a gateway with default settings can confirm (stuck needs 600 s of identical
# frames; a fan needs the 60 s decay plus 60 s flat): shorter ones are not in the ground truth.
MIN_DETECTABLE_S: Mapping[str, float] = {"stuck": 660.0, "fan_failure": 180.0}
FAULT_TOLERANCE_S = 900.0  # a fault is confirmed after its evidence builds up (stuck: 600 s + margin)
# Band times also carry the humidity correction's error: 10 % at 75 ug/m3 on a ramp of 2 ug/m3 per
# minute moves a crossing by ~4 minutes. CO2 is not corrected: one window.
BAND_TOLERANCE_WINDOWS = 2.0
LINK_TOLERANCE_S = 60.0  # offline after the transport's silence timeout; online after the first frames

BANDS = ("good", "fair", "moderate", "poor", "very_poor", "extremely_poor")
# EEA, European Air Quality Index, airindex.eea.europa.eu: lower boundaries of bands 1..5 [ug/m3].
# "2024" is the WHO-2021-aligned revision, to be checked against the EEA's publication.
EAQI_LOWER: Mapping[str, Mapping[str, tuple[float, ...]]] = {
    "2017": {"pm25": (10.0, 20.0, 25.0, 50.0, 75.0), "pm10": (20.0, 40.0, 50.0, 100.0, 150.0)},
    "2024": {"pm25": (5.0, 15.0, 50.0, 90.0, 140.0), "pm10": (15.0, 45.0, 120.0, 195.0, 270.0)},
}
CO2_LEVELS = ("normal", "elevated", "high")
# Flood detector defaults, restated (tests compare them with gateway.flood.detector.FloodSettings).
FLOOD_HYSTERESIS_MM = 25.0
FLOOD_FALL_HOLD_S = 300.0
LOST_TARGET_FAULT_S = 1800.0
FLOOD_STEP_S = 5.0  # the true depth is sampled this often (a gateway decides every ~2 s burst)
# A level event follows the true crossing after the burst, the lag of the 30 s level window and,
# after power-on or a lost echo, the 30 s confirmation of a fresh target: two minutes covers them.
# Slow water adds the time it takes to rise 10 mm: 5 mm steps and noise move a slow crossing.
FLOOD_TOLERANCE_S = 120.0
FLOOD_RESOLUTION_MM = 10.0
FLOOD_MAX_TOLERANCE_S = 600.0
FLOOD_LEVELS = ("none", "watch", "warning", "alarm")
FLOOD_EVENTS = ("flood.cleared", "flood.watch", "flood.warning", "flood.alarm")


@dataclass(frozen=True, slots=True)
class ExpectedEvent:
    """One event a perfect gateway emits: at `t` +- `tolerance_s`, with at least `data`.

    `required` is False for a band passed through on the way to another within one window (a
    fast ramp): a perfect gateway emits it, a good one may skip it, so neither is an error; the
    `previous` of the event after it then names the skipped band.
    """

    t: float
    type: str
    source: str
    data: Mapping[str, object]
    tolerance_s: float
    required: bool = True


class GroundTruthSettings(Protocol):
    """The detector settings the ground truth depends on (gateway's AirQualitySettings fits)."""

    @property
    def window_s(self) -> float: ...
    @property
    def min_readings(self) -> int: ...
    @property
    def eaqi_table(self) -> str: ...
    @property
    def band_hysteresis(self) -> float: ...
    @property
    def band_fall_hold_s(self) -> float: ...
    @property
    def co2_levels_ppm(self) -> tuple[float, float]: ...
    @property
    def co2_hysteresis_ppm(self) -> float: ...


@dataclass(frozen=True, slots=True)
class TruthSettings:
    """The gateway's default air-quality settings, restated so the sim runs without the gateway."""

    window_s: float = 300.0
    min_readings: int = 5
    eaqi_table: str = "2017"
    band_hysteresis: float = 0.10
    band_fall_hold_s: float = 120.0
    co2_levels_ppm: tuple[float, float] = (800.0, 1200.0)
    co2_hysteresis_ppm: float = 50.0


def ground_truth(scenario: Scenario, settings: GroundTruthSettings | None = None) -> list[ExpectedEvent]:
    """The events a perfect gateway emits for `scenario`, sorted by time (default settings if None)."""
    s = TruthSettings() if settings is None else settings
    events: list[ExpectedEvent] = []
    for spec in scenario.sensors:
        if "pm25" in MEASURED[spec.type]:
            events += _mark_held(_band_events(scenario, spec, s), s.window_s)
        if "co2" in MEASURED[spec.type]:
            events += _co2_events(scenario, spec, s)
        events += _fault_events(spec, scenario.duration_s)
        if spec.water is not None:
            events += _flood_events(scenario, spec) + _lost_target_events(spec, scenario.duration_s)
    return sorted(events, key=lambda e: (e.t, e.source, e.type))


class _Levels:
    """Index among ascending thresholds: rises at once, falls only below the lowered thresholds."""

    def __init__(self, up: tuple[float, ...], down: tuple[float, ...]) -> None:
        self.up, self.down = up, down
        self.index: int | None = None

    def update(self, value: float) -> int:
        raw = sum(value >= u for u in self.up)
        if self.index is None or raw > self.index:
            self.index = raw
        else:
            self.index = min(self.index, sum(value >= d for d in self.down))
        return self.index


def _usable_times(scenario: Scenario, spec: SensorSpec) -> Iterator[float]:
    """Frame times at which a perfect gateway has a usable reading from `spec`."""
    warm = WARMUP_S[spec.type]
    blocked = [(0.0, warm)]
    for f in spec.faults:
        if f.kind == "unplug":
            blocked.append((f.at, f.until + warm))
        elif f.kind in DEVICE_FAULTS:
            blocked.append((f.at, f.until))
    step = spec.frame_period_s
    for k in range(1, int(scenario.duration_s / step) + 1):
        t = k * step
        if not any(a <= t < b for a, b in blocked):
            yield t


def _windowed(
    scenario: Scenario, spec: SensorSpec, keys: tuple[str, ...], s: GroundTruthSettings
) -> Iterator[tuple[float, dict[str, float]]]:
    """(t, trailing-window mean per key) of the true air, once the window has min_readings."""
    air = scenario.air_fn(spec.id)
    window: deque[tuple[float, dict[str, float]]] = deque()
    sums = dict.fromkeys(keys, 0.0)
    for t in _usable_times(scenario, spec):
        values = air(t)
        window.append((t, {k: values[k] for k in keys}))
        for k in keys:
            sums[k] += values[k]
        while window[0][0] <= t - s.window_s:
            for k, v in window.popleft()[1].items():
                sums[k] -= v
        if len(window) >= s.min_readings:
            yield t, {k: sums[k] / len(window) for k in keys}


def _band_events(scenario: Scenario, spec: SensorSpec, s: GroundTruthSettings) -> list[ExpectedEvent]:
    table = EAQI_LOWER[s.eaqi_table]
    margin = 1.0 - s.band_hysteresis
    trackers = {k: _Levels(table[k], tuple(b * margin for b in table[k])) for k in ("pm25", "pm10")}
    band: int | None = None
    fall_since: float | None = None
    events: list[ExpectedEvent] = []
    for t, mean in _windowed(scenario, spec, ("pm25", "pm10"), s):
        candidate = max(trackers[k].update(mean[k]) for k in trackers)
        if band is not None and candidate < band:
            fall_since = t if fall_since is None else fall_since
            if t - fall_since < s.band_fall_hold_s:
                continue
        elif band is not None and candidate == band:
            fall_since = None
            continue
        data = {"band": BANDS[candidate], "previous": None if band is None else BANDS[band]}
        events.append(
            ExpectedEvent(t, "air.band_changed", spec.id, data, BAND_TOLERANCE_WINDOWS * s.window_s)
        )
        band, fall_since = candidate, None
    return events


def _mark_held(events: list[ExpectedEvent], min_s: float) -> list[ExpectedEvent]:
    """Mark band changes whose band holds less than `min_s` as not required (the last one holds)."""
    out = []
    for e, nxt in zip(events, [*events[1:], None], strict=True):
        held = nxt is None or nxt.t - e.t >= min_s
        out.append(e if held else ExpectedEvent(e.t, e.type, e.source, e.data, e.tolerance_s, required=False))
    return out


def _co2_events(scenario: Scenario, spec: SensorSpec, s: GroundTruthSettings) -> list[ExpectedEvent]:
    low, high = s.co2_levels_ppm
    h = s.co2_hysteresis_ppm
    level = _Levels((low, high), (low - h, high - h))
    events: list[ExpectedEvent] = []
    for t, mean in _windowed(scenario, spec, ("co2",), s):
        previous = level.index
        now = level.update(mean["co2"])
        before = None if previous is None else CO2_LEVELS[previous]
        if now > (previous or 0):
            data = {"level": CO2_LEVELS[now], "previous": before}
            events.append(ExpectedEvent(t, "air.co2_high", spec.id, data, s.window_s))
        elif now == 0 and previous:
            data = {"level": CO2_LEVELS[0], "previous": before}
            events.append(ExpectedEvent(t, "air.co2_normal", spec.id, data, s.window_s))
    return events


def offline_after_s(spec: SensorSpec) -> float:
    """Silence before the gateway calls a source offline (its default: max(10 s, 3 frame periods))."""
    return max(10.0, 3.0 * spec.frame_period_s)


def _fault_events(spec: SensorSpec, end: float) -> list[ExpectedEvent]:
    events: list[ExpectedEvent] = []
    for f in spec.faults:
        if f.kind in DEVICE_FAULTS and f.until - f.at >= MIN_DETECTABLE_S[f.kind]:
            data = {"faults": [f.kind]}
            events.append(ExpectedEvent(f.at, "sensor.fault", spec.id, data, FAULT_TOLERANCE_S))
            if f.until < end:  # a fault lasting to the end never recovers
                events.append(ExpectedEvent(f.until, "sensor.recovered", spec.id, data, FAULT_TOLERANCE_S))
        elif f.kind == "unplug" and f.until - f.at > offline_after_s(spec):
            events.append(ExpectedEvent(f.at, "sensor.offline", spec.id, {}, LINK_TOLERANCE_S))
            if f.until < end:
                events.append(ExpectedEvent(f.until, "sensor.online", spec.id, {}, LINK_TOLERANCE_S))
    return events


def _flood_events(scenario: Scenario, spec: SensorSpec) -> list[ExpectedEvent]:
    """Level events from the true still-water depth: rise at once, fall after the hold below level - hysteresis.

    While the sensor is unplugged or has no echo, a gateway cannot see the water: the level holds.
    """
    levels = scenario.water(spec.id).levels
    depth_at = scenario.air_fn(spec.id)
    blind = [(f.at, f.until) for f in spec.faults if f.kind in ("lost_target", "unplug")]
    level, fall_since = 0, None
    events: list[ExpectedEvent] = []
    for k in range(int(scenario.duration_s / FLOOD_STEP_S) + 1):
        t = k * FLOOD_STEP_S
        if any(a <= t < b for a, b in blind):
            continue
        depth = depth_at(t)["depth_mm"]
        reached = sum(depth >= lv for lv in levels)
        held = sum(depth >= lv - FLOOD_HYSTERESIS_MM for lv in levels)
        if reached > level:
            new = reached
        elif held >= level:
            fall_since = None
            continue
        else:
            fall_since = t if fall_since is None else fall_since
            if t - fall_since < FLOOD_FALL_HOLD_S:
                continue
            new = held
        data = {"level": FLOOD_LEVELS[new], "previous": FLOOD_LEVELS[level]}
        rate = abs(depth - depth_at(max(0.0, t - 60.0))["depth_mm"]) / 60.0  # mm/s
        slow = FLOOD_RESOLUTION_MM / rate if rate > 0 else FLOOD_MAX_TOLERANCE_S
        tolerance = min(FLOOD_MAX_TOLERANCE_S, FLOOD_TOLERANCE_S + slow)
        events.append(ExpectedEvent(t, FLOOD_EVENTS[new], spec.id, data, tolerance))
        level, fall_since = new, None
    return events


def _lost_target_events(spec: SensorSpec, end: float) -> list[ExpectedEvent]:
    """`sensor.fault` lost_target where the dry reference is within range (else no echo is normal)."""
    water = spec.water
    if water is None or water.mount_height_mm >= water.model_range_mm:
        return []
    events: list[ExpectedEvent] = []
    data = {"faults": ["lost_target"]}
    for f in spec.faults:
        if f.kind == "lost_target" and f.until - f.at > LOST_TARGET_FAULT_S + FLOOD_TOLERANCE_S:
            events.append(
                ExpectedEvent(f.at + LOST_TARGET_FAULT_S, "sensor.fault", spec.id, data, FLOOD_TOLERANCE_S)
            )
            if f.until < end:
                events.append(ExpectedEvent(f.until, "sensor.recovered", spec.id, data, FLOOD_TOLERANCE_S))
    return events
