"""Tracks keep their ids across frames and know each person's standing height.

Scenarios, frame by frame at 10 fps with hand-made detections: two people walking past each other
in opposite directions keep their ids; a tall box that turns wide within half a second (a fall)
stays the same track; a one-frame flicker is never reported; a track unseen for longer than
max_missing_s is dropped; the standing height is the median of the last upright heights, kept while
the person sits or lies, and boxes cut by the frame edge do not count; a track has "moved" only once
its box shifts by more than move_fraction of its size (a ghost blob never does).
"""

from __future__ import annotations

import numpy as np
import pytest

from gateway.vision.person import Box, PersonDetection
from gateway.vision.tracking import Tracker, TrackerSettings

HEIGHT = 240


def det(x: float, y: float, w: float, h: float) -> PersonDetection:
    return PersonDetection(Box(x, y, w, h), 1.0)


def test_box_geometry() -> None:
    a, b = Box(0, 0, 10, 10), Box(5, 0, 10, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 5, 5)) == 0.0
    assert a.bottom == 10 and b.centre == (10, 5)


def test_two_walkers_crossing_keep_their_ids() -> None:
    tracker = Tracker()
    ids_left, ids_right = set(), set()
    for i in range(40):
        t = i / 10
        left = det(20 + 6 * i, 60, 20, 60)  # walks right
        right = det(260 - 6 * i, 80, 22, 66)  # walks left, a little nearer the camera
        tracks = tracker.update([left, right], t, HEIGHT)
        for track in tracks:
            if track.detection is left:
                ids_left.add(track.id)
            elif track.detection is right:
                ids_right.add(track.id)
    assert len(ids_left) == 1 and len(ids_right) == 1 and ids_left != ids_right


def test_a_fall_keeps_the_track() -> None:
    tracker = Tracker()
    boxes = [det(100, 40, 25, 80)] * 5 + [
        det(100, 50, 35, 70),
        det(102, 70, 55, 50),
        det(104, 95, 75, 25),
        det(104, 100, 80, 20),
    ]
    ids = {track.id for i, d in enumerate(boxes) for track in tracker.update([d], i / 10, HEIGHT)}
    assert ids == {1}


def test_flicker_is_not_reported_and_lost_tracks_are_dropped() -> None:
    tracker = Tracker(TrackerSettings(max_missing_s=1.0))
    assert tracker.update([det(10, 10, 20, 50)], 0.0, HEIGHT) == []  # needs min_hits = 2
    assert [t.id for t in tracker.update([det(11, 10, 20, 50)], 0.1, HEIGHT)] == [1]
    coasting = tracker.update([], 0.6, HEIGHT)
    assert [t.id for t in coasting] == [1] and coasting[0].detection is None
    assert tracker.update([], 1.2, HEIGHT) == []
    assert [t.id for t in tracker.dropped] == [1]
    assert tracker.tracks == []
    assert [t.id for t in tracker.update([det(11, 10, 20, 50)] * 1, 1.3, HEIGHT)] == []  # a new track


def test_standing_height_is_kept_while_sitting() -> None:
    tracker = Tracker()
    heights = [80, 84, 78, 82, 80, 86, 80, 79, 81, 83]
    for i, h in enumerate(heights):
        tracker.update([det(100, 150 - h, 30, h)], i / 10, HEIGHT)
    (track,) = tracker.tracks
    expected = float(np.median(heights[-8:]))  # the median of the last 8 upright heights
    assert track.standing_height == pytest.approx(expected)
    assert track.floor_y == pytest.approx(150)
    for i in range(20):  # sits down: 50 px tall, 40 wide
        tracker.update([det(100, 100, 40, 50)], 1 + i / 10, HEIGHT)
    assert track.standing_height == pytest.approx(expected)


def test_boxes_cut_by_the_frame_edge_do_not_set_the_standing_height() -> None:
    tracker = Tracker()
    tracker.update([det(100, 0, 20, 70)], 0.0, HEIGHT)  # head cut off at the top
    tracker.update([det(100, 0, 20, 71)], 0.1, HEIGHT)
    (track,) = tracker.tracks
    assert not track.upright
    assert track.standing_height == 71  # only the tallest box seen, until an uncut upright one
    tracker.update([det(100, 10, 20, 90)], 0.2, HEIGHT)
    assert track.standing_height == 90


def test_a_new_person_far_away_gets_a_new_track() -> None:
    tracker = Tracker()
    tracker.update([det(10, 10, 20, 50)], 0.0, HEIGHT)
    tracker.update([det(10, 10, 20, 50), det(250, 10, 20, 50)], 0.1, HEIGHT)
    assert sorted(t.id for t in tracker.tracks) == [1, 2]


def test_moved_at_follows_real_motion_only() -> None:
    tracker = Tracker()
    for i in range(10):  # a static blob with one-pixel jitter: never moved
        tracker.update([det(100 + i % 2, 50, 30, 80)], i / 10, HEIGHT)
    (track,) = tracker.tracks
    assert track.moved_at == float("-inf")
    tracker.update([det(115, 50, 30, 80)], 1.0, HEIGHT)  # 15 px: more than 0.15 x 80
    assert track.moved_at == 1.0


def test_standing_height_shrinks_no_faster_than_the_rate_limit() -> None:
    tracker = Tracker()
    for i in range(10):
        tracker.update([det(100, 20, 30, 100)], i / 10, HEIGHT)
    (track,) = tracker.tracks
    for i in range(10):  # a slow collapse: still tall enough to count as upright, 100 -> 50 px in 1 s
        h = 100 - 5 * (i + 1)
        tracker.update([det(100, 120 - h, 28, h)], 1 + i / 10, HEIGHT)
    limit = 100 * np.exp(-1.0 / TrackerSettings().standing_fall_s)  # 1 s of shrinking at most
    assert limit <= track.standing_height < 100
    assert track.box.h / track.standing_height < 0.6  # so the collapse shows: height ratio below 0.6
