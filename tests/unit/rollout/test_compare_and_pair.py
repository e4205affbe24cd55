"""The comparison of active and shadow, and the pair that runs them on the same frames.

Matching: events of one type on one camera within the window are one event seen by both, nearest
first; a lone event is final once the window has passed, a pair once its first event is that old, so
a report never splits a pair. The pair: only the active detector's events reach the pipeline; the
shadow's go to the comparator alone, and a failing shadow costs the active nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pytest

from gateway.messages import Event, Frame
from gateway.rollout.compare import ACTIVE, SHADOW, Comparator, CostMeter, match
from gateway.rollout.pair import FallPair
from gateway.vision.fall import FallDetector

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def at(seconds: float, event_type: str = "fall.detected", camera: str = "hall") -> Event:
    return Event(event_type, camera, {}, time=T0 + timedelta(seconds=seconds))


def test_match_pairs_nearest_first_within_the_window() -> None:
    found = match([10.0, 20.0, 50.0], [11.5, 19.0, 21.0, 90.0], window_s=5)
    assert found.pairs == [(10.0, 11.5), (20.0, 19.0)]
    assert found.active == [50.0]
    assert found.shadow == [21.0, 90.0]


def test_settle_counts_per_type_and_camera_and_never_splits_a_pair() -> None:
    comparator = Comparator(window_s=5)
    comparator.record(ACTIVE, [at(0), at(100), at(0, camera="floor"), at(3, "fall.confirmed")])
    comparator.record(SHADOW, [at(1.5), at(40), at(0.5, camera="floor"), at(98)])
    first = comparator.settle((T0 + timedelta(seconds=99)).timestamp())
    detected = first["fall.detected"]
    assert (detected.in_both, detected.only_active, detected.only_shadow) == (2, 0, 1)
    assert sorted(detected.deltas) == [0.5, 1.5]
    assert first["fall.confirmed"].only_active == 1
    # the events at 98 (shadow) and 100 (active) are younger than the window: they wait, then pair
    later = comparator.settle((T0 + timedelta(seconds=200)).timestamp())
    assert later["fall.detected"].to_json() == {
        "in_both": 1,
        "only_active": 0,
        "only_shadow": 0,
        "timing": {"mean_s": -2.0, "max_abs_s": 2.0},
    }
    assert comparator.settle((T0 + timedelta(seconds=300)).timestamp())["fall.detected"].in_both == 0


def test_cost_meter_averages_per_frame_and_camera() -> None:
    meter = CostMeter()
    for ns in (2_000_000, 4_000_000):
        meter.add(SHADOW, "hall", ns)
    meter.add(SHADOW, "floor", 9_000_000)
    cost = meter.take(SHADOW)
    assert (cost.frames, cost.ms_per_frame, cost.cameras) == (3, 5.0, {"hall": 3.0, "floor": 9.0})
    assert meter.take(SHADOW).frames == 0 and meter.take(ACTIVE).ms_per_frame is None


class Fake:
    """A detector that raises one event per frame, or fails."""

    def __init__(self, event_type: str, fail: bool = False) -> None:
        self.event_type, self.fail, self.frames = event_type, fail, 0
        self.still = False  # someone in view is still or down

    def quiet(self, now: float) -> bool:
        return not self.still

    def on_frame(self, frame: Frame) -> list[Event]:
        self.frames += 1
        if self.fail:
            raise ValueError("shadow bug")
        return [Event(self.event_type, frame.source, {}, time=frame.time)]


def detector(fake: Fake) -> FallDetector:
    return cast(FallDetector, fake)


def frame(index: int) -> Frame:
    return Frame("hall", T0 + timedelta(seconds=index), np.zeros((4, 4, 3), np.uint8), index)


def test_only_the_active_detectors_events_leave_the_pair() -> None:
    comparator, meter = Comparator(5), CostMeter()
    pair = FallPair("hall", detector(Fake("fall.detected")), comparator, meter)
    assert [e.type for e in pair.on_frame(frame(0))] == ["fall.detected"]
    pair.set(pair.active, detector(Fake("fall.confirmed")))
    out = pair.on_frame(frame(1))
    assert [e.type for e in out] == ["fall.detected"]
    settled = comparator.settle((T0 + timedelta(seconds=60)).timestamp())
    assert settled["fall.confirmed"].only_shadow == 1  # the shadow's event went to the comparator only
    assert meter.take(SHADOW).frames == 1 and meter.take(ACTIVE).frames == 2
    shadow = pair.shadow
    pair.promote()
    assert pair.active is shadow and pair.shadow is None
    assert [e.type for e in pair.on_frame(frame(2))] == ["fall.confirmed"]


def test_a_new_shadow_starts_on_a_quiet_frame() -> None:
    active = Fake("fall.detected")
    active.still = True
    pair = FallPair("hall", detector(active), Comparator(5), CostMeter())
    shadow = Fake("fall.detected")
    pair.set(pair.active, detector(shadow))
    pair.on_frame(frame(0))
    assert shadow.frames == 0 and pair.shadow is detector(shadow)
    active.still = False
    pair.on_frame(frame(1))
    pair.on_frame(frame(2))
    assert shadow.frames == 2


def test_a_failing_shadow_costs_the_active_nothing(
    caplog: pytest.LogCaptureFixture, expect_logged_exception: Any
) -> None:
    pair = FallPair("hall", detector(Fake("fall.detected")), Comparator(5), CostMeter())
    pair.set(pair.active, detector(Fake("fall.detected", fail=True)))
    with caplog.at_level(logging.ERROR):
        outs = [pair.on_frame(frame(i)) for i in range(3)]
    assert all(len(o) == 1 for o in outs)
    assert pair.shadow_failures == 3
    assert len(expect_logged_exception) == 1  # logged once a minute, not per frame
