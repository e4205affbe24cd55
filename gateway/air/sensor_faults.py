"""Per-source fault verdicts from a sensor's reading stream: is this sensor telling the truth?

Owns the heuristics that say a reading must not be used (warm-up, out of range, isolated spike)
and that a sensor is faulty (stuck, out of range, repeated implausible jumps, fan failure), and the
`sensor.fault` / `sensor.recovered` events on verdict transitions: one event per transition, never
one per reading. Time comes only from `Reading.time`, so verdicts are deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median
from types import MappingProxyType

from gateway.messages import Event, JsonValue, Reading

STUCK = "stuck"
OUT_OF_RANGE = "out_of_range"
IMPLAUSIBLE_JUMP = "implausible_jump"
WARM_UP = "warm_up"
FAN_FAILURE = "fan_failure"

FAULT_EVENT = "sensor.fault"
RECOVERED_EVENT = "sensor.recovered"

PM_KEYS = ("pm1", "pm25", "pm10")
# The fan-check baseline holds fan_baseline_s of readings; this caps it however fast a sensor
# reports (10 Hz over the default 600 s), and however the clock jumps.
FAN_BASELINE_MAX = 6000


def _default_ranges() -> Mapping[str, tuple[float, float]]:
    return MappingProxyType(
        {
            # SDS011 and PMS5003 datasheets: 0-999.9 / 0-1000 ug/m3 effective range.
            "pm1": (0.0, 1000.0),
            "pm25": (0.0, 1000.0),
            "pm10": (0.0, 1000.0),
            # Outdoor air never falls below ~400 ppm; MH-Z19 variants top out at 5000 or 10000 ppm.
            "co2": (300.0, 10000.0),
            "temperature": (-40.0, 85.0),  # operating range of all supported sensors
            "humidity": (0.0, 100.0),
        }
    )


def _default_jump_abs() -> Mapping[str, float]:
    return MappingProxyType({"pm1": 100.0, "pm25": 100.0, "pm10": 150.0, "co2": 1000.0})


@dataclass(frozen=True)
class FaultSettings:
    """Thresholds of the fault heuristics; every default says why it is what it is."""

    stuck_min_readings: int = 30
    """Frames that must repeat exactly: at 1 Hz quantisation alone repeats a few, never 30."""
    stuck_min_span_s: float = 600.0
    """Span of the identical run. The SDS011 resolves 0.1 ug/m3 and clean air can sit at a few
    tenths, but a working sensor's noise moves at least one key by a step within minutes;
    identical values on every key for ten minutes mean a frozen device or firmware."""
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=_default_ranges)
    """Physical range [min, max] per value key; a reading outside it is never used."""
    range_min_readings: int = 3
    """Consecutive out-of-range readings before the verdict: one is a glitch, dropped quietly."""
    jump_abs: Mapping[str, float] = field(default_factory=_default_jump_abs)
    """Minimum absolute step vs the rolling median that can be a spike, per checked key."""
    jump_rel: float = 2.0
    """Minimum relative step as well: a spike lies above median*(1+rel) or below median/(1+rel)."""
    jump_history: int = 9
    """Readings in the rolling median: long enough to ignore one spike, short to follow the air."""
    jump_min_spikes: int = 3
    """Isolated spikes within jump_window_s that make a fault; fewer are dropped quietly (an
    insect or a puff of smoke in the optical chamber gives one now and then)."""
    jump_window_s: float = 300.0
    """Window over which spikes are counted."""
    fan_floor_ugm3: float = 1.0
    """Every PM key at or below this counts as collapsed: PM10 outdoors is practically never <1."""
    fan_baseline_ugm3: float = 5.0
    """Median PM over fan_baseline_s before a collapse must reach this: a drop from clearly dirty
    air to nothing within minutes is a stopped fan, while clean air drifting down is not."""
    fan_baseline_s: float = 600.0
    """Look-back window of the baseline median."""
    fan_hold_s: float = 60.0
    """How long the collapse must stay flat before the verdict (a real clean-air gust passes)."""
    recovery_hold_s: float = 120.0
    """A fault clears only after its condition has been absent this long (hysteresis)."""
    report_warm_up: bool = False
    """Warm-up follows every (re)open and is expected, so by default it only makes readings
    unusable; set True to publish it as a fault like the others."""


@dataclass(frozen=True, slots=True)
class FaultVerdict:
    """The fault state after one reading."""

    active: frozenset[str]
    """Fault kinds in force (including warm_up while the sensor warms up)."""
    usable: bool
    """Whether this reading may feed a detector's windows."""
    purge_from: datetime | None = None
    """Set when a fault started on this reading: readings from this time on are suspect."""


@dataclass(frozen=True, slots=True)
class _Evidence:
    condition: bool
    onset: float = 0.0
    detail: str = ""


_NONE = _Evidence(False)


class _StuckCheck:
    """Identical values on every key for a long run."""

    def __init__(self, settings: FaultSettings) -> None:
        self._s = settings
        self._last: tuple[tuple[str, float], ...] | None = None
        self._start = 0.0
        self._count = 0

    def update(self, t: float, values: Mapping[str, float]) -> _Evidence:
        key = tuple(sorted(values.items()))
        if key != self._last:
            self._last, self._start, self._count = key, t, 0
        self._count += 1
        span = t - self._start
        if self._count >= self._s.stuck_min_readings and span >= self._s.stuck_min_span_s:
            return _Evidence(True, self._start, f"{self._count} identical readings over {span:.0f} s")
        return _NONE


class _RangeCheck:
    """Values outside the physical range of the sensor."""

    def __init__(self, settings: FaultSettings) -> None:
        self._s = settings
        self._count = 0
        self._first = 0.0

    def update(self, t: float, values: Mapping[str, float]) -> tuple[bool, _Evidence]:
        """(reading in range, evidence)."""
        bad = []
        for key, value in sorted(values.items()):
            lo, hi = self._s.ranges.get(key, (value, value))
            if not lo <= value <= hi:
                bad.append(f"{key}={value:g} outside [{lo:g}, {hi:g}]")
        if not bad:
            self._count = 0
            return True, _NONE
        if self._count == 0:
            self._first = t
        self._count += 1
        if self._count >= self._s.range_min_readings:
            return False, _Evidence(True, self._first, "; ".join(bad))
        return False, _NONE


class _SpikeCheck:
    """Isolated spikes against the rolling median: one reading far off that reverts at once."""

    def __init__(self, settings: FaultSettings) -> None:
        self._s = settings
        self._history: deque[Mapping[str, float]] = deque(maxlen=settings.jump_history)
        self._pending: tuple[float, str] | None = None
        self._spikes: deque[tuple[float, str]] = deque()

    def _deviation(self, values: Mapping[str, float]) -> str:
        """A description of the first key far from the rolling median, or ''."""
        if len(self._history) < self._s.jump_history // 2 + 1:
            return ""
        for key, limit in sorted(self._s.jump_abs.items()):
            past = [h[key] for h in self._history if key in h]
            if key not in values or not past:
                continue
            med, value = median(past), values[key]
            far = value > med * (1.0 + self._s.jump_rel) or value < med / (1.0 + self._s.jump_rel)
            if far and abs(value - med) > limit:
                return f"{key} {value:g} vs median {med:g}"
        return ""

    def update(self, t: float, values: Mapping[str, float]) -> tuple[bool, _Evidence]:
        """(reading usable, evidence)."""
        off = self._deviation(values)
        if self._pending is not None:
            if off:
                # Two in a row away from the median: the air really stepped. Restart from here.
                self._history.clear()
                off = ""
            else:
                self._spikes.append(self._pending)
            self._pending = None
        if off:
            self._pending = (t, off)
        else:
            self._history.append(values)
        while self._spikes and self._spikes[0][0] < t - self._s.jump_window_s:
            self._spikes.popleft()
        if len(self._spikes) >= self._s.jump_min_spikes:
            detail = f"{len(self._spikes)} isolated spikes, last {self._spikes[-1][1]}"
            return not off, _Evidence(True, self._spikes[0][0], detail)
        return not off, _NONE


class _FanCheck:
    """PM collapses to ~0 and stays flat after being clearly non-zero: a stopped fan.

    A PMS/SDS with a dead fan draws no air through the chamber, so every PM key falls to (near)
    zero within about a minute and stays there. Clean air does not do that: PM10 outdoors is
    practically never below 1 ug/m3, and air that was clearly dirty minutes ago does not clear
    to nothing in seconds.
    """

    def __init__(self, settings: FaultSettings) -> None:
        self._s = settings
        self._baseline: deque[tuple[float, float]] = deque(maxlen=FAN_BASELINE_MAX)
        self._collapse: tuple[float, float, float] | None = None  # start, onset, baseline

    def _trim(self, t: float) -> None:
        """Keep only the look-back window (a step back in time starts a new one)."""
        if self._baseline and self._baseline[-1][0] > t:
            self._baseline.clear()
        while self._baseline and self._baseline[0][0] < t - self._s.fan_baseline_s:
            self._baseline.popleft()

    def _start_collapse(self, t: float) -> None:
        self._trim(t)
        if not self._baseline:
            return
        base = median(v for _, v in self._baseline)
        if base < self._s.fan_baseline_ugm3:
            return
        # The decay began after the last reading still at half the baseline.
        onset = next((bt for bt, v in reversed(self._baseline) if v >= base / 2), t)
        self._collapse = (t, onset, base)

    def update(self, t: float, values: Mapping[str, float]) -> _Evidence:
        pm = [values[k] for k in PM_KEYS if k in values]
        if not pm:
            return _NONE
        if max(pm) > self._s.fan_floor_ugm3:
            self._collapse = None
            self._trim(t)
            self._baseline.append((t, max(pm)))
            return _NONE
        if self._collapse is None:
            self._start_collapse(t)
        if self._collapse is None or t - self._collapse[0] < self._s.fan_hold_s:
            return _NONE
        start, onset, base = self._collapse
        detail = f"PM <= {self._s.fan_floor_ugm3:g} ug/m3 for {t - start:.0f} s after a median of {base:.1f}"
        return _Evidence(True, onset, detail)


@dataclass
class _KindState:
    active: bool = False
    clear_from: float | None = None


class SensorFaultDetector:
    """Fault verdicts and sensor.fault/sensor.recovered events for ONE source."""

    def __init__(self, source: str, settings: FaultSettings) -> None:
        self.source = source
        self.settings = settings
        self._stuck = _StuckCheck(settings)
        self._range = _RangeCheck(settings)
        self._spike = _SpikeCheck(settings)
        self._fan = _FanCheck(settings)
        self._states: dict[str, _KindState] = {}
        self._episode_start: float | None = None
        self._episode_kinds: set[str] = set()

    @property
    def active(self) -> frozenset[str]:
        """Fault kinds currently in force."""
        return frozenset(k for k, s in self._states.items() if s.active)

    def _evidence(self, reading: Reading, t: float) -> tuple[bool, dict[str, _Evidence]]:
        """(reading usable on its own merits, evidence per kind) for one reading."""
        if "warming_up" in reading.flags:
            # Nothing a warming sensor says is evidence either way.
            return False, {WARM_UP: _Evidence(True, t, "sensor reports warming up")}
        in_range, range_ev = self._range.update(t, reading.values)
        if not in_range:
            return False, {WARM_UP: _NONE, OUT_OF_RANGE: range_ev}
        not_spike, spike_ev = self._spike.update(t, reading.values)
        fan_ev = self._fan.update(t, reading.values)
        # A stopped fan also freezes the PM keys at zero: it explains the run, so stuck defers.
        stuck_ev = _NONE if fan_ev.condition else self._stuck.update(t, reading.values)
        evidence = {
            WARM_UP: _NONE,
            OUT_OF_RANGE: range_ev,
            IMPLAUSIBLE_JUMP: spike_ev,
            FAN_FAILURE: fan_ev,
            STUCK: stuck_ev,
        }
        return not_spike, evidence

    def _step(self, kind: str, ev: _Evidence, t: float) -> bool | None:
        """Advance one kind: True if it started, False if it cleared, None if unchanged."""
        state = self._states.setdefault(kind, _KindState())
        if ev.condition:
            state.clear_from = None
            if not state.active:
                state.active = True
                return True
            return None
        if not state.active:
            return None
        if state.clear_from is None:
            state.clear_from = t
        hold = 0.0 if kind == WARM_UP else self.settings.recovery_hold_s
        if t - state.clear_from >= hold:
            state.active, state.clear_from = False, None
            return False
        return None

    def _reported(self, kinds: frozenset[str]) -> frozenset[str]:
        return kinds if self.settings.report_warm_up else kinds - {WARM_UP}

    def on_reading(self, reading: Reading) -> tuple[FaultVerdict, list[Event]]:
        """Update the verdict with one reading; return it and any transition events."""
        t = reading.time.timestamp()
        own_ok, evidence = self._evidence(reading, t)
        started: dict[str, _Evidence] = {}
        for kind, ev in evidence.items():
            if self._step(kind, ev, t):
                started[kind] = ev
        active = self.active
        events: list[Event] = []
        new = self._reported(frozenset(started))
        if new:
            events.append(self._fault_event(reading.time, new, active, started))
        elif self._episode_start is not None and not self._reported(active):
            events.append(self._recovered_event(reading.time, t))
        purge = min((ev.onset for ev in started.values()), default=None)
        verdict = FaultVerdict(
            active=active,
            usable=own_ok and not active,
            purge_from=None if purge is None else datetime.fromtimestamp(purge, UTC),
        )
        return verdict, events

    def _fault_event(
        self, time: datetime, new: frozenset[str], active: frozenset[str], ev: Mapping[str, _Evidence]
    ) -> Event:
        if self._episode_start is None:
            self._episode_start = time.timestamp()
            self._episode_kinds = set()
        self._episode_kinds |= new
        detail: dict[str, JsonValue] = {k: ev[k].detail for k in sorted(new)}
        data: dict[str, JsonValue] = {
            "faults": list[JsonValue](sorted(new)),
            "active": list[JsonValue](sorted(self._reported(active))),
            "detail": detail,
        }
        return Event(type=FAULT_EVENT, source=self.source, data=data, time=time)

    def _recovered_event(self, time: datetime, t: float) -> Event:
        start = self._episode_start if self._episode_start is not None else t
        data: dict[str, JsonValue] = {
            "faults": list[JsonValue](sorted(self._episode_kinds)),
            "duration_s": round(t - start, 1),
        }
        self._episode_start = None
        self._episode_kinds = set()
        return Event(type=RECOVERED_EVENT, source=self.source, data=data, time=time)
