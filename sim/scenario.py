"""Seeded simulator scenarios: what the air really does and what each device reports.

Owns the scenario file format (`sim/scenarios/*.yaml`), its loader and validation, the truth and
device functions the virtual sensors play back, when each sensor is stuck, and the transport-fault
windows the runner applies. What should happen -- the events a perfect gateway emits -- is
`sim.ground_truth.ground_truth(scenario)`: that module builds on this one, never the reverse.

Device noise and quantisation are not added here: the virtual devices in `sim.serial.devices` add
their own from the scenario seed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sim.keyframes import Keyframes
from sim.serial.maxbotix import WaterArtefacts

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# What each device type reports (its frame's value keys).
MEASURED: Mapping[str, tuple[str, ...]] = {
    "sds011": ("pm25", "pm10"),
    "pms5003": ("pm1", "pm25", "pm10"),
    "pms5003t": ("pm1", "pm25", "pm10", "temperature", "humidity"),
    "mhz19": ("co2", "temperature"),
    "maxbotix": ("depth_mm",),  # the true depth the device turns into ranges
}
PM_KEYS = ("pm1", "pm25", "pm10")
TRUTH_KEYS = ("pm1", "pm25", "pm10", "co2", "temperature", "humidity")
PM1_OF_PM25 = 0.7  # pm1 when a scenario gives none: typical PM1/PM2.5 ratio of urban/combustion aerosol
# Frame periods: datasheet values, as the gateway's protocols use them (copied, not imported).
FRAME_PERIOD_S: Mapping[str, float] = {
    "sds011": 1,
    "pms5003": 1,
    "pms5003t": 1,
    "mhz19": 5,
    "maxbotix": 1 / 6,
}
DEVICE_FAULTS = frozenset({"stuck", "fan_failure"})
WATER_FAULTS = frozenset({"lost_target"})  # a water-level sensor without any echo (reports no target)
WATER_KEYS = frozenset({"mount_height_mm", "levels", "model_range_mm"})
TRANSPORT_FAULTS = frozenset({"garbage", "bad_checksum", "truncated", "unplug"})
FAN_DECAY_S = 60.0  # a stopped fan: PM falls to 0 within about a minute as the chamber settles
VARIABILITY_KNOT_S = 60.0  # the true air's seeded fluctuation changes on a one-minute scale


class ScenarioError(ValueError):
    """A scenario file that does not describe a valid scenario."""


def _fail(where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}")


# --- the scenario model --------------------------------------------------------------------


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
class WaterSpec:
    """A water-level sensor: height above the dry reference, the levels that matter, its misreadings."""

    mount_height_mm: float
    levels: tuple[float, float, float]  # watch, warning, alarm [mm of depth]
    model_range_mm: int = 5000
    artefacts: WaterArtefacts = field(default_factory=WaterArtefacts)

    def config(self) -> dict[str, object]:
        """This sensor's water-level keys in a gateway config."""
        levels = dict(zip(("watch", "warning", "alarm"), self.levels, strict=True))
        return {"mount_height_mm": self.mount_height_mm, "levels": levels}


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
    water: WaterSpec | None = None


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

    def water(self, sensor_id: str) -> WaterSpec:
        """The water-level settings of a `maxbotix` sensor; ValueError for any other sensor."""
        water = self.sensor(sensor_id).water
        if water is None:
            raise ValueError(f"sensor {sensor_id!r} is no water-level sensor")
        return water

    def device_faults(self, sensor_id: str) -> tuple[FaultWindow, ...]:
        """The stuck/fan_failure windows (already in truth_fn; see frozen_fn for a stuck device's frames)."""
        return tuple(f for f in self.sensor(sensor_id).faults if f.kind in DEVICE_FAULTS)

    def frozen_fn(self, sensor_id: str) -> Callable[[float], bool]:
        """Whether the sensor is stuck at scenario time t: its virtual device then repeats its frames."""
        windows = tuple(f for f in self.device_faults(sensor_id) if f.kind == "stuck")

        def frozen(t: float) -> bool:
            return any(f.covers(t) for f in windows)

        return frozen

    def transport_faults(self, sensor_id: str) -> tuple[FaultWindow, ...]:
        """The garbage/bad_checksum/truncated/unplug windows the device simulator applies."""
        return tuple(f for f in self.sensor(sensor_id).faults if f.kind in TRANSPORT_FAULTS)


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


_TRUTH_RANGE = {"temperature": (-40, 85), "humidity": (0, 100), "co2": (0, 40000), "depth_mm": (0, 10000)}


def _fault(value: object, where: str, duration: float, sensor_type: str) -> FaultWindow:
    raw = _mapping(value, where, {"kind", "at", "until"}, {"rate"})
    kind = raw["kind"]
    if kind not in DEVICE_FAULTS | TRANSPORT_FAULTS | WATER_FAULTS:
        raise _fail(f"{where}.kind", f"unknown fault {kind!r}")
    if kind == "fan_failure" and "pm25" not in MEASURED[sensor_type]:
        raise _fail(f"{where}.kind", "only PM sensors have a fan")
    if (kind in WATER_FAULTS or kind == "stuck") and (kind in WATER_FAULTS) != (sensor_type == "maxbotix"):
        raise _fail(f"{where}.kind", f"{kind!r} does not apply to a {sensor_type} sensor")
    at = _number(raw["at"], f"{where}.at", 0.0, duration)
    until = _number(raw["until"], f"{where}.until", at, duration)
    if until <= at:
        raise _fail(where, "until must be after at")
    per_frame = kind in {"garbage", "bad_checksum", "truncated"}
    rate = _number(raw.get("rate", 1.0), f"{where}.rate", 0.0 if per_frame else 1.0, 1.0)
    return FaultWindow(str(kind), at, until, rate)


def _pm_artefact(value: object, where: str) -> Artefact:
    raw = _mapping(value, where, set(), {"humidity_growth", "gain"})
    return Artefact(
        _number(raw.get("humidity_growth", 0.0), f"{where}.humidity_growth", 0.0, 10.0),
        _number(raw.get("gain", 1.0), f"{where}.gain", 0.1, 10.0),
    )


def _water(raw: dict[str, Any], where: str, faults: tuple[FaultWindow, ...]) -> WaterSpec:
    """Mount height, levels, model and misreadings of a `maxbotix` sensor; its lost-target windows."""
    model = raw.get("model_range_mm", 5000)
    if model not in (5000, 10000):
        raise _fail(f"{where}.model_range_mm", f"expected 5000 or 10000, got {model!r}")
    mount = _number(raw.get("mount_height_mm"), f"{where}.mount_height_mm", 1.0, float(model))
    levels_raw = _mapping(raw.get("levels"), f"{where}.levels", {"watch", "warning", "alarm"}, set())
    levels = tuple(
        _number(levels_raw[k], f"{where}.levels.{k}", 1.0, mount) for k in ("watch", "warning", "alarm")
    )
    if not levels[0] < levels[1] < levels[2] < mount:
        raise _fail(f"{where}.levels", "levels must rise: watch < warning < alarm < mount_height_mm")
    names = {f.name for f in dataclass_fields(WaterArtefacts)} - {"lost_target"}  # lost_target: a fault
    art = _mapping(raw.get("artefact", {}), f"{where}.artefact", set(), names)
    values: dict[str, Any] = {k: _number(v, f"{where}.artefact.{k}", 0.0, 10_000.0) for k, v in art.items()}
    if "no_target_mm" in values:
        values["no_target_mm"] = int(values["no_target_mm"])
    lost = tuple((f.at, f.until) for f in faults if f.kind in WATER_FAULTS)
    artefacts = WaterArtefacts(**values, lost_target=lost)
    return WaterSpec(mount, (levels[0], levels[1], levels[2]), int(model), artefacts)


def _sensor(value: object, where: str, duration: float) -> SensorSpec:
    optional = {"artefact", "faults", "variability", "frame_period_s", "humidity_from", *WATER_KEYS}
    raw = _mapping(value, where, {"id", "type", "truth"}, optional)
    kind = raw["type"]
    if kind not in MEASURED:
        raise _fail(f"{where}.type", f"unknown sensor type {kind!r}; known: {sorted(MEASURED)}")
    water_level = kind == "maxbotix"
    if not water_level and WATER_KEYS & raw.keys():
        raise _fail(where, f"{sorted(WATER_KEYS & raw.keys())} apply to maxbotix sensors only")
    needed = {k for k in MEASURED[kind] if k != "pm1"}
    artefact = Artefact() if water_level else _pm_artefact(raw.get("artefact", {}), f"{where}.artefact")
    if artefact.humidity_growth:
        needed.add("humidity")
    allowed = set() if water_level else set(TRUTH_KEYS) - needed
    truth_raw = _mapping(raw["truth"], f"{where}.truth", needed, allowed)
    truth = {
        k: _keyframes(v, f"{where}.truth.{k}", *_TRUTH_RANGE.get(k, (0.0, 2000.0)))
        for k, v in truth_raw.items()
    }
    faults_raw = raw.get("faults", [])
    if not isinstance(faults_raw, list):
        raise _fail(f"{where}.faults", "expected a list")
    faults = tuple(_fault(f, f"{where}.faults[{i}]", duration, kind) for i, f in enumerate(faults_raw))
    _no_overlap([f for f in faults if f.kind in DEVICE_FAULTS | WATER_FAULTS], f"{where}.faults")
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
        water=_water(raw, where, faults) if water_level else None,
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
