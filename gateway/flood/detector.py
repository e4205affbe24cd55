"""The flood detector for one water-level source: ranges -> filtered depth -> flood level events.

Owns the level state of one sensor and the events `flood.watch`, `flood.warning`, `flood.alarm`
and `flood.cleared` (type names are a public contract), plus `sensor.fault` / `sensor.recovered`
with the fault kind `lost_target` for a sensor that should always see the dry ground but has had
no echo for a long time. A level is raised on the measured (filtered) depth, or earlier when the
nowcast model is confident the depth crosses it within 15 minutes; the payload's `trigger` says
which. Levels rise at once and fall only after the depth has stayed below the level minus a
hysteresis for a hold time, so a level hovering at a boundary cannot flood the broker.

Depth comes only from `level_filter.LevelFilter`: no target, blanking, debris, multipath and gaps
are "no valid reading", which holds the current level (it is evidence of neither water nor dry).
Pure logic: no I/O, and time comes only from `Reading.time`, so results are deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.flood.level_filter import (
    BLANKED,
    JUMP_REJECTED,
    NO_TARGET,
    OUTLIERS,
    PENDING,
    UNSTABLE,
    FilterSettings,
    LevelFilter,
    LevelSample,
)
from gateway.flood.nowcast import Nowcaster
from gateway.inference.slots import Slot, current
from gateway.messages import Event, JsonValue, Reading

WATCH, WARNING, ALARM, CLEARED = "flood.watch", "flood.warning", "flood.alarm", "flood.cleared"
FAULT_EVENT, RECOVERED_EVENT = "sensor.fault", "sensor.recovered"
LOST_TARGET = "lost_target"
LEVEL_NAMES = ("none", "watch", "warning", "alarm")  # index = number of levels reached
LEVEL_EVENTS = ("", WATCH, WARNING, ALARM)
# Filter flags seen within quality_window_s -> the quality flag every event carries.
QUALITY_OF: dict[str, str] = {
    NO_TARGET: "no_target_recent",
    BLANKED: "blanked_recent",
    OUTLIERS: "filtered_outliers",
    JUMP_REJECTED: "filtered_outliers",
    UNSTABLE: "unstable_recent",
}


@dataclass(frozen=True)
class FloodSettings:
    """Settings of one water-level sensor's detector; every default says why it is what it is."""

    mount_height_mm: float
    """Height of the sensor above the dry reference (config `mount_height_mm`)."""
    levels: tuple[float, float, float]
    """Depths [mm above the dry reference] of watch, warning and alarm (config `levels`)."""
    hysteresis_mm: float = 25.0
    """A level falls only once the depth is this far below it: five 5 mm quanta, above the
    jitter of a filtered level, well below the spacing of any sensible pair of levels."""
    fall_hold_s: float = 300.0
    """...and has stayed there this long: falling water is never urgent news, and a level
    hovering at a boundary then causes at most one rise per hold time."""
    nowcast_confidence: float = 0.9
    """P(crossing within 15 min) from which a level is raised early: a wrong early warning
    costs trust, so only a confident forecast acts before the water does."""
    nowcast_hysteresis: float = 0.2
    """A nowcast-raised level is held while P(15 min) stays above confidence minus this."""
    nowcast_period_s: float = 30.0
    """How often the model runs: the forecast horizon is minutes, and a Pi must not spend a core."""
    nowcast_min_points: int = 5
    """History points the model needs before its forecast is used."""
    nowcast_min_span_s: float = 300.0
    """...spanning at least this long: a rise rate needs a few minutes of level."""
    history_s: float = 3600.0
    """Filtered history handed to the model: an hour covers a cloudburst's rise and a tide's flank."""
    history_step_s: float = 30.0
    """History points are at least this far apart: 120 points per hour is plenty for a rate."""
    quality_window_s: float = 600.0
    """Filter troubles within this window before an event become its quality flags."""
    sensor_range_mm: float = 5000.0
    """Range of the sensor model (5-m HRXL-WR). A dry reference within range is always a
    target, so a long no-target run is then a fault; beyond it (tidal sites), it is normal."""
    lost_target_fault_s: float = 1800.0
    """No echo for this long from a sensor that should see the ground is a fault (misaligned,
    condensation, snow on the transducer); shorter runs are turbulence, foam or rain."""
    time_unit_s: float = 1.0
    """Reading seconds per real second: 1 on a real site. It is a duration, so a simulator's time
    scaling shrinks it and the nowcast model still sees history in real seconds."""
    filter: FilterSettings = field(default_factory=FilterSettings)
    """The depth filter's settings (bursts, outliers, jumps; see level_filter.py)."""

    def __post_init__(self) -> None:
        watch, warning, alarm = self.levels
        if not 0 < watch < warning < alarm < self.mount_height_mm:
            raise ValueError("levels must rise (0 < watch < warning < alarm) and stay below the sensor")
        if not 0 <= self.hysteresis_mm < watch or self.fall_hold_s < 0:
            raise ValueError("hysteresis_mm must be in [0, watch) and fall_hold_s >= 0")
        if not 0 < self.nowcast_confidence <= 1 or not 0 <= self.nowcast_hysteresis < self.nowcast_confidence:
            raise ValueError("nowcast_confidence in (0, 1], nowcast_hysteresis in [0, confidence)")
        if self.time_unit_s <= 0:
            raise ValueError("time_unit_s must be > 0")


@dataclass(frozen=True, slots=True)
class _Forecast:
    t: float
    probabilities: dict[int, tuple[float, float]]  # level index -> (P15, P30)


class FloodDetector:
    """Flood level events for ONE water-level source (readings carry `distance_mm`)."""

    def __init__(
        self, source: str, settings: FloodSettings, nowcaster: Nowcaster | Slot[Nowcaster] | None = None
    ) -> None:
        self.source = source
        self.settings = settings
        self._nowcaster = nowcaster
        self._filter = LevelFilter(settings.mount_height_mm, settings.filter)
        self._history: deque[tuple[float, float]] = deque()
        self._level = 0
        self._raised_at: float | None = None
        self._fall_since: float | None = None
        self._forecast: _Forecast | None = None
        self._seen: dict[str, float] = {}  # filter flag -> last time seen
        self._no_echo_since: float | None = None
        self._faulted = False
        self._last_t: float | None = None
        self.depth_mm: float | None = None
        """The latest filtered depth, None while there is no valid reading."""

    @property
    def level(self) -> str:
        """The current level: none, watch, warning or alarm."""
        return LEVEL_NAMES[self._level]

    def snapshot(self) -> dict[str, JsonValue]:
        """What users have been told (the level and since when), to carry across a restart."""
        return {"level": self._level, "raised_at": self._raised_at}

    def restore(self, snapshot: Mapping[str, JsonValue]) -> None:
        """Resume from `snapshot`: a level still in force is not announced again."""
        level, raised_at = snapshot.get("level"), snapshot.get("raised_at")
        if isinstance(level, int) and 0 <= level < len(LEVEL_NAMES):
            self._level = level
        if isinstance(raised_at, int | float) and not isinstance(raised_at, bool):
            self._raised_at = float(raised_at)

    def on_reading(self, reading: Reading, humidity: float | None = None) -> list[Event]:
        """Feed one reading; return the events it caused. `humidity` is unused (detector signature)."""
        if reading.source != self.source:
            raise ValueError(f"reading from {reading.source!r} fed to the detector of {self.source!r}")
        t = reading.time.timestamp()
        if self._last_t is not None and t < self._last_t:  # a clock step back: forget every time kept
            self._filter.reset()
            self._history.clear()
            self._seen.clear()
            self._forecast = self._fall_since = self._no_echo_since = None
        self._last_t = t
        sample = self._filter.add(t, reading.values.get("distance_mm"), reading.flags)
        if sample is None:
            return []
        for flag in sample.flags:
            self._seen[flag] = sample.t
        events = self._target_events(sample)
        self.depth_mm = sample.depth_mm
        if sample.depth_mm is not None:
            self._remember(sample.t, sample.depth_mm)
            events += self._decide(sample.t, sample.depth_mm)
        return events

    # --- levels ---------------------------------------------------------------------------

    def _decide(self, t: float, depth: float) -> list[Event]:
        s = self.settings
        measured = sum(depth >= level for level in s.levels)
        forecast = self._nowcast(t)
        predicted = self._confident_level(forecast, s.nowcast_confidence)
        if max(measured, predicted) > self._level:
            new = max(measured, predicted)
            return [self._level_event(t, new, depth, measured < new)]
        held_measured = sum(depth >= level - s.hysteresis_mm for level in s.levels)
        held = max(
            held_measured, self._confident_level(forecast, s.nowcast_confidence - s.nowcast_hysteresis)
        )
        if held >= self._level:
            self._fall_since = None
            return []
        if self._fall_since is None:
            self._fall_since = t
        if t - self._fall_since < s.fall_hold_s:
            return []
        return [self._level_event(t, held, depth, nowcast=False)]

    @staticmethod
    def _confident_level(forecast: _Forecast | None, threshold: float) -> int:
        if forecast is None:
            return 0
        return max((i for i, (p15, _) in forecast.probabilities.items() if p15 >= threshold), default=0)

    def _level_event(self, t: float, new: int, depth: float, nowcast: bool) -> Event:
        previous, self._level, self._fall_since = self._level, new, None
        data: dict[str, JsonValue] = {
            "level": LEVEL_NAMES[new],
            "previous": LEVEL_NAMES[previous],
            "depth_mm": round(depth),
            "trigger": "nowcast" if nowcast else "measured",
        }
        if new == 0:
            started = self._raised_at if self._raised_at is not None else t
            data["duration_s"] = round((t - started) / self.settings.time_unit_s)
            self._raised_at = None
        else:
            data["threshold_mm"] = self.settings.levels[new - 1]
            if previous == 0:
                self._raised_at = t
        model = None
        if nowcast and self._forecast is not None and self._nowcaster is not None:
            p15, p30 = self._forecast.probabilities[new]
            data["probability_15min"], data["probability_30min"] = round(p15, 3), round(p30, 3)
            model = current(self._nowcaster).model
        quality = self._quality(t) | ({"nowcast"} if nowcast else set())
        kind = LEVEL_EVENTS[new] if new else CLEARED
        return Event(kind, self.source, data, time=_time(t), quality=frozenset(quality), model=model)

    def _quality(self, t: float) -> set[str]:
        since = t - self.settings.quality_window_s
        return {QUALITY_OF[f] for f, seen in self._seen.items() if seen >= since and f in QUALITY_OF}

    # --- nowcast --------------------------------------------------------------------------

    def _remember(self, t: float, depth: float) -> None:
        s, history = self.settings, self._history
        if history and t - history[-1][0] > s.filter.stale_s:
            history.clear()  # a long gap: the old history is another episode
        if len(history) >= 2 and t - history[-2][0] < s.history_step_s:
            history[-1] = (t, depth)
        else:
            history.append((t, depth))
        while history[0][0] < t - s.history_s:
            history.popleft()

    def _nowcast(self, t: float) -> _Forecast | None:
        """The forecast for the current level and those above it, refreshed every nowcast_period_s."""
        s, history = self.settings, self._history
        if self._forecast is not None and t - self._forecast.t < s.nowcast_period_s:
            return self._forecast
        self._forecast = None
        enough = (
            len(history) >= s.nowcast_min_points and history[-1][0] - history[0][0] >= s.nowcast_min_span_s
        )
        if self._nowcaster is None or not enough:
            return None
        latest = history[-1][0]
        times = [(h - latest) / s.time_unit_s for h, _ in history]
        depths = [d for _, d in history]
        probabilities = {
            i: current(self._nowcaster).crossing_probabilities(times, depths, s.levels[i - 1])
            for i in range(max(1, self._level), len(s.levels) + 1)  # the current level too: its hold
        }
        self._forecast = _Forecast(t, probabilities)
        return self._forecast

    # --- lost target ----------------------------------------------------------------------

    def _target_events(self, sample: LevelSample) -> list[Event]:
        """`sensor.fault` after a long no-target run (dry reference within range), then recovery."""
        s = self.settings
        if s.mount_height_mm >= s.sensor_range_mm:
            return []
        if NO_TARGET in sample.flags:
            if self._no_echo_since is None:
                self._no_echo_since = sample.t
            if not self._faulted and sample.t - self._no_echo_since >= s.lost_target_fault_s:
                self._faulted = True
                detail: dict[str, JsonValue] = {LOST_TARGET: f"no echo since {_time(self._no_echo_since)}"}
                data: dict[str, JsonValue] = {
                    "faults": [LOST_TARGET],
                    "active": [LOST_TARGET],
                    "detail": detail,
                }
                return [Event(FAULT_EVENT, self.source, data, time=_time(sample.t))]
            return []
        if sample.depth_mm is None and PENDING not in sample.flags:
            return []  # no echo verdict either way (blanked, unstable)
        since, self._no_echo_since = self._no_echo_since, None
        if not self._faulted or since is None:
            return []
        self._faulted = False
        duration = round((sample.t - since) / s.time_unit_s)
        data = {"faults": [LOST_TARGET], "duration_s": duration}
        return [Event(RECOVERED_EVENT, self.source, data, time=_time(sample.t))]


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
