"""The depth filter: bursts, outliers, implausible jumps, no target and gaps are never water.

Ranges are scripted at 6 Hz (a free-running HRXL-MaxSonar-WR) for a sensor 2000 mm above the dry
reference, in 5 mm steps as the sensor reports them; time comes only from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from gateway.flood.level_filter import (
    JUMP_REJECTED,
    NO_TARGET,
    OUTLIERS,
    PENDING,
    FilterSettings,
    LevelFilter,
    LevelSample,
)

MOUNT = 2000.0
RATE = 6.0
Range = float | None


def q5(mm: float) -> float:
    return 5.0 * round(mm / 5.0)


def play(
    f: LevelFilter, seconds: float, distance: Callable[[float, int], Range], start: float = 0.0
) -> list[LevelSample]:
    """Feed `seconds` of 6 Hz ranges from `distance(t, frame index)`; None = no target."""
    out = []
    for i in range(round(seconds * RATE)):
        t = start + i / RATE
        d = distance(t, i)
        sample = f.add(t, d, frozenset() if d is not None else frozenset({NO_TARGET}))
        if sample is not None:
            out.append(sample)
    return out


def depths(samples: Iterable[LevelSample]) -> list[float]:
    return [s.depth_mm for s in samples if s.depth_mm is not None]


def still(depth: float) -> Callable[[float, int], Range]:
    return lambda t, i: q5(MOUNT - depth)


def test_steady_water_gives_its_depth_after_confirmation() -> None:
    f = LevelFilter(MOUNT)
    out = play(f, 120, still(150))
    assert all(s.depth_mm is None and PENDING in s.flags for s in out if s.t < 29)
    assert set(depths(out)) == {150.0}
    assert len(out) == pytest.approx(120 * RATE / 11, abs=1)  # one decision per burst of 11


def test_single_frame_debris_and_echoes_are_dropped_inside_a_burst() -> None:
    f = LevelFilter(MOUNT)
    out = play(f, 120, lambda t, i: 1200.0 if i % 7 == 3 else q5(MOUNT - 40))
    assert set(depths(out)) == {40.0}
    assert any(OUTLIERS in s.flags for s in out)


def test_waves_are_smoothed_to_the_still_water_level() -> None:
    import math

    f = LevelFilter(MOUNT)
    out = play(f, 300, lambda t, i: q5(MOUNT - 200 - 40 * math.sin(2 * math.pi * t / 5.0)))
    settled = depths(s for s in out if s.t > 90)
    assert max(settled) - min(settled) <= 30
    assert abs(sum(settled) / len(settled) - 200) <= 10


def test_a_multipath_episode_is_never_water() -> None:
    """At low water a wall ledge echoes 700 mm short for 20 s: a jump that falls back."""
    f = LevelFilter(MOUNT)
    out = play(f, 400, lambda t, i: 1300.0 if 200 <= t < 220 else q5(MOUNT - 20))
    assert max(depths(out)) <= 25
    assert any(JUMP_REJECTED in s.flags for s in out)


def test_a_sustained_jump_is_accepted_after_confirm_s() -> None:
    f = LevelFilter(MOUNT)
    out = play(f, 400, lambda t, i: 1300.0 if t >= 200 else q5(MOUNT - 20))
    first_high = min(s.t for s in out if s.depth_mm is not None and s.depth_mm > 600)
    assert 230 <= first_high <= 236
    assert depths(out)[-1] == 700.0


def test_a_fast_but_plausible_rise_is_followed_without_delay() -> None:
    f = LevelFilter(MOUNT)
    rise = lambda t, i: q5(MOUNT - min(400.0, max(0.0, (t - 100) * 2.0)))  # 2 mm/s: a flash flood
    out = play(f, 400, rise)
    late = [s for s in out if 120 <= s.t <= 290 and s.depth_mm is not None]
    assert all(abs(s.depth_mm - 2.0 * (s.t - 100)) <= 40 for s in late if s.depth_mm is not None)
    assert not any(PENDING in s.flags for s in out if s.t > 60)


def test_no_target_is_no_reading_and_isolated_echoes_after_it_are_not_water() -> None:
    """House Mill at low tide: out of range, with single reflections in between."""
    f = LevelFilter(5000.0)
    play(f, 60, still(3000), start=0)

    def tide(t: float, i: int) -> Range:
        return 4405.0 if int(t) % 40 < 2 else None  # a 2-s reflection every 40 s, else no target

    out = play(f, 600, tide, start=60)
    assert depths(out) == []
    assert any(NO_TARGET in s.flags for s in out)


def test_a_gap_longer_than_stale_s_needs_confirmation_again() -> None:
    f = LevelFilter(MOUNT)
    play(f, 60, still(100))
    out = play(f, 60, still(100), start=60 + 3600)
    assert out[0].depth_mm is None and PENDING in out[0].flags
    assert depths(out)[-1] == 100.0


def test_sparse_streams_confirm_over_two_samples() -> None:
    """One burst a minute (a replayed FloodNet profile): confirmation costs one sample."""
    f = LevelFilter(MOUNT)
    out = []
    for k in range(5):
        for j in range(11):
            s = f.add(60.0 * k + j / RATE, MOUNT - 100, frozenset())
            if s is not None:
                out.append(s)
    assert [s.depth_mm for s in out] == [None, 100.0, 100.0, 100.0, 100.0]


def test_blanking_of_a_10_m_model_is_configurable() -> None:
    f = LevelFilter(MOUNT, FilterSettings(blanking_mm=500.0))
    assert depths(play(f, 60, lambda t, i: 500.0)) == []


def test_a_burst_closes_on_time_when_frames_are_slow() -> None:
    f = LevelFilter(MOUNT)
    out = [f.add(float(t), 1900.0, frozenset()) for t in range(0, 120, 5)]
    assert sum(1 for s in out if s is not None) >= 20


def test_reset_forgets_the_level() -> None:
    f = LevelFilter(MOUNT)
    play(f, 60, still(100))
    f.reset()
    out = play(f, 20, still(100), start=100)
    assert depths(out) == []


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="burst_size"):
        FilterSettings(burst_size=0)
    with pytest.raises(ValueError, match="mount_height_mm"):
        LevelFilter(0.0)
