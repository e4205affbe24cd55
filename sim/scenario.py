"""Seeded simulator scenarios: what the air really does, what each device reports, what should happen.

Owns the scenario file format (`sim/scenarios/*.yaml`), its loader and validation, the truth and
device functions the virtual sensors play back, the transport-fault windows the runner applies,
and the ground truth: the events a perfect gateway emits, computed from the TRUE air, not from the
artefacted readings.

The EAQI table is a copy kept here on purpose, not imported from `gateway.inference.eaqi`: the
ground truth must not share a transcription error with the code it judges (a unit test compares
the two copies). Device noise and quantisation are not added here: the virtual devices in
`sim.serial.devices` add their own from the scenario seed.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# What each device type reports (its frame's value keys).
MEASURED: Mapping[str, tuple[str, ...]] = {
    "sds011": ("pm25", "pm10"),
    "pms5003": ("pm1", "pm25", "pm10"),
    "pms5003t": ("pm1", "pm25", "pm10", "temperature", "humidity"),
    "mhz19": ("co2", "temperature"),
}
PM_KEYS = ("pm1", "pm25", "pm10")
TRUTH_KEYS = ("pm1", "pm25", "pm10", "co2", "temperature", "humidity")
PM1_OF_PM25 = 0.7  # pm1 when a scenario gives none: typical PM1/PM2.5 ratio of urban/combustion aerosol
# Frame periods and warm-up: datasheet values, as the gateway's protocols use them (copied, not imported).
FRAME_PERIOD_S: Mapping[str, float] = {"sds011": 1.0, "pms5003": 1.0, "pms5003t": 1.0, "mhz19": 5.0}
WARMUP_S: Mapping[str, float] = {"sds011": 30.0, "pms5003": 30.0, "pms5003t": 30.0, "mhz19": 180.0}
DEVICE_FAULTS = frozenset({"stuck", "fan_failure"})
TRANSPORT_FAULTS = frozenset({"garbage", "bad_checksum", "truncated", "unplug"})
FAN_DECAY_S = 60.0  # a stopped fan: PM falls to 0 within about a minute as the chamber settles
# Shortest device faults a gateway with default settings can confirm (stuck needs 600 s of identical
# frames; a fan needs the 60 s decay plus 60 s flat): shorter ones are not in the ground truth.
MIN_DETECTABLE_S: Mapping[str, float] = {"stuck": 660.0, "fan_failure": 180.0}
FAULT_TOLERANCE_S = 900.0  # a fault is confirmed after its evidence builds up (stuck: 600 s + margin)
# Band times also carry the humidity correction's error: 10 % at 75 ug/m3 on a ramp of 2 ug/m3 per
# minute moves a crossing by ~4 minutes. CO2 is not corrected: one window.
BAND_TOLERANCE_WINDOWS = 2.0
LINK_TOLERANCE_S = 60.0  # offline after the transport's silence timeout; online after the first frames
VARIABILITY_KNOT_S = 60.0  # the true air's seeded fluctuation changes on a one-minute scale

BANDS = ("good", "fair", "moderate", "poor", "very_poor", "extremely_poor")
# EEA, European Air Quality Index, airindex.eea.europa.eu: lower boundaries of bands 1..5 [ug/m3].
# "2024" is the WHO-2021-aligned revision, to be checked against the EEA's publication.
EAQI_LOWER: Mapping[str, Mapping[str, tuple[float, ...]]] = {
    "2017": {"pm25": (10.0, 20.0, 25.0, 50.0, 75.0), "pm10": (20.0, 40.0, 50.0, 100.0, 150.0)},
    "2024": {"pm25": (5.0, 15.0, 50.0, 90.0, 140.0), "pm10": (15.0, 45.0, 120.0, 195.0, 270.0)},
}
CO2_LEVELS = ("normal", "elevated", "high")


class ScenarioError(ValueError):
    """A scenario file that does not describe a valid scenario."""


def _fail(where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}")


# --- the scenario model --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keyframes:
    """A piecewise-linear function of scenario time, constant before the first and after the last point."""

    points: tuple[tuple[float, float], ...]

    def at(self, t: float) -> float:
        """The value at scenario time `t`."""
        times = [p[0] for p in self.points]
        i = bisect_right(times, t)
        if i == 0:
            return self.points[0][1]
        if i == len(self.points):
            return self.points[-1][1]
        (t0, v0), (t1, v1) = self.points[i - 1], self.points[i]
        return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)


@dataclass(frozen=True, slots=True)
class Artefact:
    """How a low-cost optical sensor misreads the true air."""

    humidity_growth: float = 0.0
    """a in reading = truth * (1 + a * aw^2 / (1 - aw)), aw = min(RH, 99) / 100: droplet growth."""
    gain: float = 1.0
    """Dry scale error of the sensor against the reference."""

    def factor(self, humidity: float) -> float:
        """The multiplicative misreading of PM at relative humidity `humidity` [%]."""
        aw = min(max(humidity, 0.0), 99.0) / 100.0
        return self.gain * (1.0 + self.humidity_growth * aw * aw / (1.0 - aw))


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault of one kind during scenario time [at, until); `rate` is a probability per frame."""

    kind: str
    at: float
    until: float
    rate: float = 1.0

    def covers(self, t: float) -> bool:
        """Whether scenario time `t` is inside the window."""
        return self.at <= t < self.until


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One simulated sensor: its type, the air around it, how it misreads, how it breaks."""

    id: str
    type: str
    truth: Mapping[str, Keyframes]
    artefact: Artefact = Artefact()
    faults: tuple[FaultWindow, ...] = ()
    variability: float = 0.0
    frame_period_s: float = 1.0
    humidity_from: str | None = None


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


@lru_cache(maxsize=65536)
def _knot(seed: int, sensor: str, key: str, index: int) -> float:
    """A standard-normal number fixed by its arguments (stable across processes, unlike hash())."""
    digest = hashlib.blake2b(f"{seed}/{sensor}/{key}/{index}".encode(), digest_size=16).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 1) / 2.0**64
    u2 = int.from_bytes(digest[8:], "big") / 2.0**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@dataclass(frozen=True)
class Scenario:
    """A seeded timeline of sensors, their true air, artefacts and faults."""

    name: str
    description: str
    seed: int
    duration_s: float
    sensors: tuple[SensorSpec, ...]
    _by_id: Mapping[str, SensorSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {s.id: s for s in self.sensors})

    def sensor(self, sensor_id: str) -> SensorSpec:
        """The sensor named `sensor_id`; KeyError if there is none."""
        return self._by_id[sensor_id]

    def air_fn(self, sensor_id: str) -> Callable[[float], dict[str, float]]:
        """The TRUE air at the sensor at scenario time t (all truth keys, fluctuation included)."""
        spec = self.sensor(sensor_id)

        def air(t: float) -> dict[str, float]:
            values = {k: f.at(t) for k, f in spec.truth.items()}
            if "pm25" in values and "pm1" not in values:
                values["pm1"] = PM1_OF_PM25 * values["pm25"]
            if spec.variability:
                self._fluctuate(spec, values, t)
            return values

        return air

    def _fluctuate(self, spec: SensorSpec, values: dict[str, float], t: float) -> None:
        i, frac = divmod(t / VARIABILITY_KNOT_S, 1.0)
        for key, group in (("pm", PM_KEYS), ("co2", ("co2",))):
            a, b = _knot(self.seed, spec.id, key, int(i)), _knot(self.seed, spec.id, key, int(i) + 1)
            noise = a + (b - a) * (0.5 - 0.5 * math.cos(math.pi * frac))  # smooth between knots
            scale = max(0.0, 1.0 + spec.variability * noise)
            for k in group:
                if k in values:
                    values[k] *= scale

    def truth_fn(self, sensor_id: str) -> Callable[[float], dict[str, float]]:
        """What the DEVICE measures at t: true air + artefacts + stuck/fan effects, before noise."""
        spec = self.sensor(sensor_id)
        air = self.air_fn(sensor_id)
        keys = MEASURED[spec.type]

        def seen(t: float) -> dict[str, float]:
            values = air(t)
            factor = spec.artefact.factor(values.get("humidity", 50.0))
            return {k: values[k] * factor if k in PM_KEYS else values[k] for k in keys}

        def device(t: float) -> dict[str, float]:
            fault = next((f for f in spec.faults if f.kind in DEVICE_FAULTS and f.covers(t)), None)
            if fault is None:
                return seen(t)
            if fault.kind == "stuck":
                return seen(fault.at)
            left = max(0.0, 1.0 - (t - fault.at) / FAN_DECAY_S)
            return {k: v * left if k in PM_KEYS else v for k, v in seen(t).items()}

        return device

    def device_faults(self, sensor_id: str) -> tuple[FaultWindow, ...]:
        """The stuck/fan_failure windows (already in truth_fn; a device must not add noise when stuck)."""
        return tuple(f for f in self.sensor(sensor_id).faults if f.kind in DEVICE_FAULTS)

    def transport_faults(self, sensor_id: str) -> tuple[FaultWindow, ...]:
        """The garbage/bad_checksum/truncated/unplug windows the device simulator applies."""
        return tuple(f for f in self.sensor(sensor_id).faults if f.kind in TRANSPORT_FAULTS)

    def ground_truth(self, settings: GroundTruthSettings | None = None) -> list[ExpectedEvent]:
        """The events a perfect gateway emits for this scenario, sorted by time."""
        s = TruthSettings() if settings is None else settings
        events: list[ExpectedEvent] = []
        for spec in self.sensors:
            if "pm25" in MEASURED[spec.type]:
                events += _mark_held(_band_events(self, spec, s), s.window_s)
            if "co2" in MEASURED[spec.type]:
                events += _co2_events(self, spec, s)
            events += _fault_events(spec, self.duration_s)
        return sorted(events, key=lambda e: (e.t, e.source, e.type))


# --- ground truth --------------------------------------------------------------------------


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


# --- loading and validation ----------------------------------------------------------------


def _mapping(value: object, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected a mapping, got {type(value).__name__}")
    missing = required - value.keys()
    unknown = value.keys() - required - optional
    if missing or unknown:
        raise _fail(where, f"missing keys {sorted(missing)}, unknown keys {sorted(map(str, unknown))}")
    return value


def _number(value: object, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(where, f"expected a number in [{low}, {high}], got {value!r}")
    return float(value)


def _keyframes(value: object, where: str, low: float, high: float) -> Keyframes:
    if not isinstance(value, list) or not value:
        raise _fail(where, "expected a non-empty list of [t, value] pairs")
    points: list[tuple[float, float]] = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail(f"{where}[{i}]", f"expected [t, value], got {pair!r}")
        t = _number(pair[0], f"{where}[{i}].t", 0.0)
        if points and t < points[-1][0]:
            raise _fail(f"{where}[{i}].t", "keyframe times must not decrease")
        points.append((t, _number(pair[1], f"{where}[{i}].value", low, high)))
    return Keyframes(tuple(points))


_TRUTH_RANGE = {"temperature": (-40.0, 85.0), "humidity": (0.0, 100.0), "co2": (0.0, 40000.0)}


def _fault(value: object, where: str, duration: float, pm_sensor: bool) -> FaultWindow:
    raw = _mapping(value, where, {"kind", "at", "until"}, {"rate"})
    kind = raw["kind"]
    if kind not in DEVICE_FAULTS | TRANSPORT_FAULTS:
        raise _fail(f"{where}.kind", f"unknown fault {kind!r}")
    if kind == "fan_failure" and not pm_sensor:
        raise _fail(f"{where}.kind", "only PM sensors have a fan")
    at = _number(raw["at"], f"{where}.at", 0.0, duration)
    until = _number(raw["until"], f"{where}.until", at, duration)
    if until <= at:
        raise _fail(where, "until must be after at")
    per_frame = kind in {"garbage", "bad_checksum", "truncated"}
    rate = _number(raw.get("rate", 1.0), f"{where}.rate", 0.0 if per_frame else 1.0, 1.0)
    return FaultWindow(str(kind), at, until, rate)


def _sensor(value: object, where: str, duration: float) -> SensorSpec:
    optional = {"artefact", "faults", "variability", "frame_period_s", "humidity_from"}
    raw = _mapping(value, where, {"id", "type", "truth"}, optional)
    kind = raw["type"]
    if kind not in MEASURED:
        raise _fail(f"{where}.type", f"unknown sensor type {kind!r}; known: {sorted(MEASURED)}")
    needed = {k for k in MEASURED[kind] if k != "pm1"}
    artefact_raw = _mapping(raw.get("artefact", {}), f"{where}.artefact", set(), {"humidity_growth", "gain"})
    artefact = Artefact(
        _number(artefact_raw.get("humidity_growth", 0.0), f"{where}.artefact.humidity_growth", 0.0, 10.0),
        _number(artefact_raw.get("gain", 1.0), f"{where}.artefact.gain", 0.1, 10.0),
    )
    if artefact.humidity_growth:
        needed.add("humidity")
    truth_raw = _mapping(raw["truth"], f"{where}.truth", needed, set(TRUTH_KEYS) - needed)
    truth = {
        k: _keyframes(v, f"{where}.truth.{k}", *_TRUTH_RANGE.get(k, (0.0, 2000.0)))
        for k, v in truth_raw.items()
    }
    faults_raw = raw.get("faults", [])
    if not isinstance(faults_raw, list):
        raise _fail(f"{where}.faults", "expected a list")
    pm = "pm25" in MEASURED[kind]
    faults = tuple(_fault(f, f"{where}.faults[{i}]", duration, pm) for i, f in enumerate(faults_raw))
    _no_overlap([f for f in faults if f.kind in DEVICE_FAULTS], f"{where}.faults")
    return SensorSpec(
        id=str(raw["id"]),
        type=str(kind),
        truth=truth,
        artefact=artefact,
        faults=faults,
        variability=_number(raw.get("variability", 0.0), f"{where}.variability", 0.0, 1.0),
        frame_period_s=_number(
            raw.get("frame_period_s", FRAME_PERIOD_S[kind]), f"{where}.frame_period_s", 0.1
        ),
        humidity_from=None if raw.get("humidity_from") is None else str(raw["humidity_from"]),
    )


def _no_overlap(faults: list[FaultWindow], where: str) -> None:
    ordered = sorted(faults, key=lambda f: f.at)
    for a, b in pairwise(ordered):
        if b.at < a.until:
            raise _fail(where, f"device faults overlap: {a.kind} and {b.kind}")


def _check_pairing(sensors: tuple[SensorSpec, ...], where: str) -> None:
    ids = [s.id for s in sensors]
    if len(set(ids)) != len(ids):
        raise _fail(f"{where}.sensors", f"duplicate sensor ids in {ids}")
    by_id = {s.id: s for s in sensors}
    for s in sensors:
        if s.humidity_from is not None:
            source = by_id.get(s.humidity_from)
            if source is None or "humidity" not in MEASURED[source.type]:
                raise _fail(
                    f"{where}.{s.id}.humidity_from", f"{s.humidity_from!r} is no humidity sensor here"
                )


def parse_scenario(data: object, where: str = "scenario") -> Scenario:
    """A validated Scenario from parsed YAML; ScenarioError naming the key path on any problem."""
    raw = _mapping(data, where, {"name", "description", "seed", "duration_s", "sensors"}, set())
    duration = _number(raw["duration_s"], f"{where}.duration_s", 1.0)
    if not isinstance(raw["seed"], int) or isinstance(raw["seed"], bool):
        raise _fail(f"{where}.seed", "expected an integer")
    sensors_raw = raw["sensors"]
    if not isinstance(sensors_raw, list) or not sensors_raw:
        raise _fail(f"{where}.sensors", "expected a non-empty list")
    sensors = tuple(_sensor(s, f"{where}.sensors[{i}]", duration) for i, s in enumerate(sensors_raw))
    _check_pairing(sensors, where)
    return Scenario(str(raw["name"]), str(raw["description"]).strip(), raw["seed"], duration, sensors)


def load_scenario(path: Path | str) -> Scenario:
    """Load and validate a scenario file (YAML, safe loader)."""
    path = Path(path)
    return parse_scenario(YAML(typ="safe", pure=True).load(path), where=str(path))


def scenario_path(name: str) -> Path:
    """The packaged scenario file called `name`; ValueError if there is none."""
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no scenario {name!r}; packaged: {', '.join(list_scenarios())}")
    return path


def list_scenarios() -> list[str]:
    """Names of the packaged scenarios, sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
