"""Robust water depth from an ultrasonic range stream: what is water, and what is only an echo.

Owns the rules that turn raw ranges into a filtered depth above the dry reference
(depth = mount height - distance), and says "no valid reading" -- never water, never dry --
whenever the ranges do not support a level:

1. Bursts. Consecutive readings are grouped into bursts (11, as House Mill's logger takes the
   median of 11). A burst with too few valid ranges (no target, blanking, warm-up) is no reading.
   Inside a burst, ranges further than `outlier_k` robust deviations (1.4826 * MAD, at least one
   5 mm quantum, so identical quantised readings do not make every neighbour an outlier) from
   the median are dropped as debris or stray echoes; the median of the rest is the burst's range.
2. Plausibility. A burst whose depth rises faster than water can (multipath off a wall, a floating
   object, a bird) is held as pending and accepted only once the jump is sustained: several
   agreeing bursts over `confirm_s`. A brief jump that falls back is rejected. After no target or
   a long gap, the first depth is pending too: isolated echoes between no-target readings (House
   Mill's low-tide reflections) are never taken for water.
3. Level. The output depth is the median of the accepted burst depths of the last
   `level_window_s`, which removes waves (periods of seconds) but not a rising tide or flood.

Pure logic; time comes only from the caller (reading times), so results are deterministic.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from statistics import median

NO_TARGET = "no_target"
BLANKED = "blanked"
UNSTABLE = "unstable"  # valid ranges, but too scattered to agree on one surface
OUTLIERS = "outliers"  # some ranges of the burst were dropped as debris or stray echoes
PENDING = "pending"  # an implausible jump (or a reacquired target) waiting to be confirmed
JUMP_REJECTED = "jump_rejected"  # a jump that fell back before it was confirmed: multipath, debris
MAD_SIGMA = 1.4826  # MAD of a normal distribution times this = its standard deviation


@dataclass(frozen=True)
class FilterSettings:
    """Settings of the depth filter; every default says why it is what it is."""

    burst_size: int = 11
    """Ranges per burst: House Mill's logger takes the median of 11; at ~6 Hz that is ~2 s."""
    burst_span_s: float = 4.0
    """A burst also closes when a reading arrives this long after its first: a slow or stalled
    sensor still yields a reading every few seconds, and a burst never mixes old and new water."""
    min_valid_fraction: float = 0.5
    """A burst needs more valid ranges than this fraction: a median of a minority is no median."""
    outlier_k: float = 3.0
    """Ranges beyond k robust deviations from the burst median are dropped (3: the usual cut
    that keeps 99.7 % of normal noise)."""
    quantum_mm: float = 5.0
    """Range resolution: HRXL-WR readings move in 5 mm steps (PROTOCOLS.md, House Mill data)."""
    blanking_mm: float = 300.0
    """Ranges at or below this are the blanking value, not a target: 300 mm on 5-m models;
    set 500 for 10-m models."""
    jump_mm: float = 100.0
    """A rise of up to this much above the current level is always plausible: wind waves and
    wakes of up to +-50 mm move single burst medians that far, plus a few quanta of noise;
    multipath echoes off walls and ledges read hundreds of mm short."""
    max_rise_mm: float = 300.0
    """Fastest plausible rise per `rise_period_s`: 300 mm per minute is ten times the steepest
    1 % of tide rises in the House Mill development data (~29 mm/min) and above a street filling
    from a cloudburst, while a multipath echo or debris jumps hundreds of mm within one burst."""
    rise_period_s: float = 60.0
    """The period `max_rise_mm` refers to (a duration, so a time-compressed simulator scales it)."""
    confirm_s: float = 30.0
    """An implausible jump must be sustained this long to be water: multipath and passing
    debris last seconds; a real surge that fast is still confirmed within half a minute."""
    confirm_bursts: int = 2
    """...and over at least this many agreeing bursts (sparse streams: two samples)."""
    stale_s: float = 900.0
    """After this long without an accepted depth the old level says nothing: the next depth is
    confirmed afresh (as after a no-target period)."""
    level_window_s: float = 30.0
    """Median window over accepted bursts: longer than wind waves and wakes (periods of seconds),
    far shorter than any flood or tide."""

    def __post_init__(self) -> None:
        if self.burst_size < 1 or self.confirm_bursts < 1:
            raise ValueError("burst_size and confirm_bursts must be >= 1")
        if not 0.0 <= self.min_valid_fraction < 1.0 or self.outlier_k <= 0 or self.quantum_mm <= 0:
            raise ValueError("min_valid_fraction in [0, 1), outlier_k and quantum_mm > 0")
        if min(self.burst_span_s, self.rise_period_s, self.stale_s, self.level_window_s) <= 0:
            raise ValueError("burst_span_s, rise_period_s, stale_s and level_window_s must be > 0")


@dataclass(frozen=True, slots=True)
class LevelSample:
    """One filter decision: a filtered depth [mm above the dry reference], or no valid reading."""

    t: float
    depth_mm: float | None
    flags: frozenset[str] = frozenset()


@dataclass
class _Burst:
    start: float
    end: float
    count: int = 0
    ranges: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


def _reason(distance_mm: float | None, flags: frozenset[str]) -> str:
    """Why a reading carries no usable range."""
    if NO_TARGET in flags:
        return NO_TARGET
    if BLANKED in flags or (distance_mm is not None and not flags):
        return BLANKED  # a range inside the blanking distance of this model
    return min(flags, default=UNSTABLE)


class LevelFilter:
    """Ranges (or their absence) in, filtered depths out, one decision per burst."""

    def __init__(self, mount_height_mm: float, settings: FilterSettings | None = None) -> None:
        if mount_height_mm <= 0:
            raise ValueError("mount_height_mm must be > 0")
        self.mount_height_mm = mount_height_mm
        self.settings = settings or FilterSettings()
        self._burst: _Burst | None = None
        self._accepted: deque[tuple[float, float]] = deque()  # (t, burst depth), level window
        self._last: tuple[float, float] | None = None  # (t, level) of the latest accepted burst
        self._pending: list[tuple[float, float]] = []
        self._reacquire = True
        self._last_input: float | None = None

    def reset(self) -> None:
        """Forget everything (a clock step backwards, a replaced sensor)."""
        self._burst = None
        self._accepted.clear()
        self._last = None
        self._pending.clear()
        self._reacquire = True
        self._last_input = None

    def add(
        self, t: float, distance_mm: float | None, flags: frozenset[str] = frozenset()
    ) -> LevelSample | None:
        """One reading: a range [mm] or None; any flag (no_target, blanked, warming_up) makes it invalid.

        Returns a sample when a burst closes (on its last reading, or on the first reading after it).
        """
        if self._last_input is not None and t - self._last_input > self.settings.stale_s:
            self._reacquire = True
        self._last_input = t
        out = None
        burst = self._burst
        if burst is not None and t - burst.start > self.settings.burst_span_s:
            out = self._close(burst)
            burst = None
        if burst is None:
            burst = self._burst = _Burst(t, t)
        burst.end, burst.count = t, burst.count + 1
        if distance_mm is not None and distance_mm > self.settings.blanking_mm and not flags:
            burst.ranges.append(distance_mm)
        else:
            reason = _reason(distance_mm, flags)
            burst.reasons[reason] = burst.reasons.get(reason, 0) + 1
        if burst.count >= self.settings.burst_size:
            out = self._close(burst)
        return out

    def _close(self, burst: _Burst) -> LevelSample:
        self._burst = None
        distance, flags = self._burst_range(burst)
        if distance is None:
            if NO_TARGET in flags:
                self._reacquire = True
                self._drop_pending(flags)
            return LevelSample(burst.end, None, frozenset(flags))
        return self._plausible(burst.end, self.mount_height_mm - distance, flags)

    def _burst_range(self, burst: _Burst) -> tuple[float | None, set[str]]:
        """The burst's robust range, or None with the reason."""
        s = self.settings
        need = max(1, math.floor(burst.count * s.min_valid_fraction) + 1)
        if len(burst.ranges) < need:
            reason = max(burst.reasons, key=lambda k: burst.reasons[k]) if burst.reasons else UNSTABLE
            return None, {reason}
        centre = median(burst.ranges)
        spread = median(abs(r - centre) for r in burst.ranges)
        limit = s.outlier_k * max(MAD_SIGMA * spread, s.quantum_mm)
        inliers = [r for r in burst.ranges if abs(r - centre) <= limit]
        if len(inliers) < need:
            return None, {UNSTABLE}
        flags = {OUTLIERS} if len(inliers) < len(burst.ranges) else set()
        return median(inliers), flags

    def _plausible(self, t: float, depth: float, flags: set[str]) -> LevelSample:
        s = self.settings
        last = self._last
        if last is not None and t - last[0] > s.stale_s:
            self._reacquire = True
        if not self._reacquire and last is not None and depth - last[1] <= self._allowed(t - last[0]):
            self._drop_pending(flags)
            return self._accept(t, depth, flags)
        if self._pending:
            reference = median(d for _, d in self._pending)
            if abs(depth - reference) > self._allowed(t - self._pending[-1][0]):
                self._drop_pending(flags)
        self._pending.append((t, depth))
        first = self._pending[0][0]
        if len(self._pending) >= s.confirm_bursts and t - first >= s.confirm_s:
            self._pending.clear()
            self._reacquire = False
            self._accepted.clear()  # the level moved for real: do not blend it with the old one
            return self._accept(t, depth, flags)
        return LevelSample(t, None, frozenset({*flags, PENDING}))

    def _allowed(self, dt: float) -> float:
        s = self.settings
        return s.jump_mm + s.max_rise_mm * max(0.0, dt) / s.rise_period_s

    def _drop_pending(self, flags: set[str]) -> None:
        if self._pending:
            flags.add(JUMP_REJECTED)
            self._pending.clear()

    def _accept(self, t: float, depth: float, flags: set[str]) -> LevelSample:
        window = self._accepted
        window.append((t, depth))
        while window[0][0] <= t - self.settings.level_window_s:
            window.popleft()
        level = float(median(d for _, d in window))
        self._last = (t, level)  # jumps are judged against the level, not against one wave's crest
        return LevelSample(t, level, frozenset(flags))
