"""Synthetic water-depth histories for training the flood nowcast (seeded, so reproducible).

Owns the event shapes and how a filtered sensor series is sampled from them. Depths are mm above the
dry reference, as the gateway's water-level filter reports them: artefact-free (the filter has removed
out-of-range values, debris and reflections), with a little noise, 1 or 5 mm steps, irregular reading
times and occasional gaps. Four kinds of history:

- ``cloudburst``: a street gully fills by 5-40 cm in 10-60 min (one or two bursts), then drains;
- ``tide``: a quay, a 12.42 h tide with an overtide (fast rise, slow fall) and a storm surge; below
  the sensor's range at low tide, so those readings are missing;
- ``blocked_drain``: a slow, steady rise of 0.2-5 mm/min for 30-240 min, then a plateau or slow drain;
- ``dry``: a flat level with drift and small harmless bumps.

Each series carries three thresholds, drawn around its highest level so that some are crossed and
some are near misses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TRUTH_STEP_S: Final = 10.0
THRESHOLDS_PER_SERIES: Final = 3
KINDS: Final = ("cloudburst", "tide", "blocked_drain", "dry")
KIND_WEIGHTS: Final = (0.35, 0.25, 0.2, 0.2)
TIDE_PERIOD_S: Final = 12.42 * 3600.0  # M2, the principal lunar semi-diurnal tide


@dataclass(frozen=True, slots=True)
class Series:
    """One simulated sensor: filtered readings (oldest first) and the thresholds it is judged against."""

    kind: str
    times_s: FloatArray
    depths_mm: FloatArray
    thresholds_mm: tuple[float, ...]


def _pulse(t: FloatArray, rng: np.random.Generator) -> FloatArray:
    """One burst: a smooth rise of 5-40 cm in 10-60 min, a short hold, an exponential drain."""
    onset = rng.uniform(0.5, 3.5) * 3600.0
    amplitude = rng.uniform(50.0, 400.0)
    rise_s = rng.uniform(10.0, 60.0) * 60.0
    hold_s = rng.uniform(0.0, 20.0) * 60.0
    drain_s = rng.uniform(10.0, 90.0) * 60.0
    shape = rng.uniform(0.6, 1.6)  # < 1: fast start (intense rain first); > 1: slow start
    u = np.clip((t - onset) / rise_s, 0.0, 1.0)
    rising = amplitude * ((1.0 - np.cos(np.pi * u)) / 2.0) ** shape
    after = t - onset - rise_s - hold_s
    return np.where(after > 0.0, amplitude * np.exp(-np.maximum(after, 0.0) / drain_s), rising)


def cloudburst(t: FloatArray, rng: np.random.Generator) -> FloatArray:
    """A street gully: standing water, then one or two bursts."""
    level = np.full_like(t, rng.uniform(0.0, 15.0))
    for _ in range(1 if rng.random() < 0.7 else 2):
        level += _pulse(t, rng)
    return level


def tide(t: FloatArray, rng: np.random.Generator) -> FloatArray:
    """A quay: M2 tide with an M4 overtide and a storm surge; the peak lands near the quay's edge."""
    amplitude = rng.uniform(400.0, 2500.0)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    omega = 2.0 * np.pi / (TIDE_PERIOD_S * rng.uniform(0.97, 1.03))
    wave = np.cos(omega * t + phase) + rng.uniform(0.0, 0.25) * np.cos(
        2.0 * (omega * t + phase) + 0.5 * np.pi
    )
    surge = rng.uniform(-200.0, 800.0) * np.exp(
        -0.5 * ((t - rng.uniform(0.0, t[-1])) / (rng.uniform(2.0, 8.0) * 3600.0)) ** 2
    )
    level: FloatArray = amplitude * wave + surge
    return level - float(level.max()) + float(rng.uniform(-600.0, 600.0))


def blocked_drain(t: FloatArray, rng: np.random.Generator) -> FloatArray:
    """A blocked drain: a slow, steady rise (rate wobbling by up to 30 %), then a plateau or slow drain."""
    onset = rng.uniform(0.5, 3.0) * 3600.0
    duration = rng.uniform(30.0, 240.0) * 60.0
    rate = rng.uniform(0.2, 5.0) / 60.0  # mm/s
    wobble = 1.0 + rng.uniform(0.0, 0.3) * np.sin(2.0 * np.pi * t / rng.uniform(1200.0, 5400.0))
    rising = np.cumsum(np.where((t > onset) & (t <= onset + duration), rate * wobble, 0.0)) * TRUTH_STEP_S
    peak = rising[-1]
    drain_s = rng.uniform(60.0, 300.0) * 60.0 if rng.random() < 0.5 else np.inf
    after = np.maximum(t - onset - duration, 0.0)
    level = np.where(t > onset + duration, peak * np.exp(-after / drain_s), rising)
    return level + rng.uniform(0.0, 10.0)


def dry(t: FloatArray, rng: np.random.Generator) -> FloatArray:
    """No event: a flat level with a slow drift and, sometimes, small bumps of 5-30 mm."""
    level = rng.uniform(0.0, 50.0) + rng.uniform(-0.05, 0.05) / 60.0 * t
    for _ in range(rng.integers(0, 3)):
        centre, width = rng.uniform(0.0, t[-1]), rng.uniform(3.0, 10.0) * 60.0
        level += rng.uniform(5.0, 30.0) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return level


SHAPES: Final[dict[str, Callable[[FloatArray, np.random.Generator], FloatArray]]] = {
    "cloudburst": cloudburst,
    "tide": tide,
    "blocked_drain": blocked_drain,
    "dry": dry,
}
DURATION_H: Final = {"cloudburst": 5.0, "tide": 10.0, "blocked_drain": 5.0, "dry": 4.0}


def reading_times(duration_s: float, rng: np.random.Generator) -> FloatArray:
    """Irregular reading times: a base interval of 10 s to 10 min, +-30 % jitter, sometimes gaps."""
    base = float(np.exp(rng.uniform(np.log(10.0), np.log(600.0))))
    count = int(duration_s / base * 1.5) + 2
    times = np.cumsum(base * rng.uniform(0.7, 1.3, count)) + rng.uniform(0.0, base)
    times = times[times < duration_s]
    if rng.random() < 0.3:
        for _ in range(rng.integers(1, 4)):
            start = rng.uniform(0.0, duration_s)
            times = times[(times < start) | (times > start + rng.uniform(3.0, 20.0) * 60.0)]
    return times


def observe(t: FloatArray, truth: FloatArray, times: FloatArray, rng: np.random.Generator) -> FloatArray:
    """The filtered readings at ``times``: the true depth, a little noise, 1 or 5 mm steps."""
    depths = np.interp(times, t, truth) + rng.normal(0.0, rng.uniform(0.0, 3.0), times.size)
    step = 5.0 if rng.random() < 0.5 else 1.0
    return np.round(depths / step) * step


def thresholds(kind: str, truth: FloatArray, rng: np.random.Generator) -> tuple[float, ...]:
    """Thresholds around the series' peak: some below it (crossed), some above (near misses)."""
    base, peak = float(np.min(truth)), float(np.max(truth))
    if kind == "tide":
        offsets = peak + rng.uniform(-800.0, 400.0, THRESHOLDS_PER_SERIES)
    elif kind == "dry":
        offsets = base + rng.uniform(10.0, 300.0, THRESHOLDS_PER_SERIES)
    else:
        offsets = base + (peak - base) * rng.uniform(0.3, 1.4, THRESHOLDS_PER_SERIES)
    return tuple(round(float(v), 1) for v in offsets)


def simulate_one(kind: str, rng: np.random.Generator) -> Series:
    """One series of ``kind``; tides lose their readings below the sensor's range."""
    duration = DURATION_H[kind] * 3600.0
    t = np.arange(0.0, duration + TRUTH_STEP_S, TRUTH_STEP_S)
    truth = SHAPES[kind](t, rng)
    times = reading_times(duration, rng)
    depths = observe(t, truth, times, rng)
    if kind == "tide":
        visible = depths >= truth.max() - rng.uniform(2000.0, 5000.0)
        times, depths = times[visible], depths[visible]
    return Series(kind, times, depths, thresholds(kind, truth, rng))


def simulate(count: int, seed: int) -> list[Series]:
    """``count`` series drawn from the four kinds (weights KIND_WEIGHTS), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(KINDS), size=count, p=KIND_WEIGHTS)
    return [simulate_one(KINDS[int(k)], rng) for k in kinds]
