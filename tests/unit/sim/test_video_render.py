"""Video simulator renders: deterministic pixels, ground truth consistent with the body, detectable people."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from sim.video import Renderer, load_scene, random_scene, render_frames, scene_path
from sim.video.truth import FrameTruth


def _truth_at(renderer: Renderer, t: float) -> FrameTruth:
    return renderer.render(t, 0)[1]


def test_rendering_is_deterministic_per_seed() -> None:
    scene = random_scene(3, "fall")
    a = Renderer(scene).render(4.0, 60)
    b = Renderer(scene).render(4.0, 60)
    assert np.array_equal(a[0], b[0])
    assert a[1] == b[1]
    other = Renderer(random_scene(4, "fall")).render(4.0, 60)[0]
    assert not np.array_equal(a[0], other)


def test_render_frames_gives_every_frame_in_order() -> None:
    scene = replace(load_scene(scene_path("fall_sideways_left")), duration_s=2.0)
    frames = list(render_frames(scene))
    renderer = Renderer(scene)
    assert len(frames) == renderer.n_frames == 30
    assert [round(t * renderer.fps) for t, _, _ in frames[:5]] == [0, 1, 2, 3, 4]
    assert frames[0][1].shape == (480, 640, 3) and frames[0][1].dtype == np.uint8


def test_fall_truth_matches_the_pose_in_every_packaged_fall() -> None:
    for name in ("fall_forward", "fall_backward", "fall_sideways_right", "fall_slide_chair", "fall_collapse"):
        r = Renderer(load_scene(scene_path(name)))
        (fall,) = [e for e in r.events if e.type == "fall"]
        assert 0.5 <= fall.impact_t - fall.start_t <= 5.0, name
        before = _truth_at(r, fall.start_t - 0.2).people[0]
        assert not before.lying and not before.fallen, name
        during = _truth_at(r, (fall.start_t + fall.impact_t) / 2).people[0]
        assert during.falling and during.activity == "fall", name
        end = fall.end_t or r.duration_s
        for t in np.arange(fall.impact_t + 0.4, end, 1.0):
            p = _truth_at(r, float(t)).people[0]
            assert p.lying, (name, t)
            assert p.on_floor and p.fallen and p.head_z < 0.5 and p.on_furniture is None, (name, t)


def test_recovery_ends_the_fall() -> None:
    r = Renderer(load_scene(scene_path("fall_forward_recover")))
    (fall,) = r.events
    assert fall.end_t is not None
    up = _truth_at(r, r.duration_s - 0.5).people[0]
    assert not up.lying and not up.fallen and up.head_z > 1.2


def test_lying_on_a_bed_is_intentional_and_not_on_the_floor() -> None:
    r = Renderer(load_scene(scene_path("adl_lie_bed")))
    (lie,) = r.events
    assert lie.type == "lie_down" and lie.intentional and lie.on_furniture == "bed"
    p = _truth_at(r, lie.impact_t + 2.0).people[0]
    assert p.lying and not p.on_floor and not p.fallen and p.on_furniture == "bed"
    assert p.pelvis[2] > 0.5  # on the mattress


def test_bending_is_not_lying() -> None:
    r = Renderer(load_scene(scene_path("adl_bend_pick_up")))
    labels = [_truth_at(r, float(t)).people[0] for t in np.arange(0, r.duration_s, 0.25)]
    bends = [p for p in labels if p.activity == "bend"]
    assert bends and not any(p.lying for p in labels)


def test_background_subtraction_finds_the_person_where_the_truth_says() -> None:
    scene = load_scene(scene_path("adl_walk_across"))
    mog = cv2.createBackgroundSubtractorMOG2(history=200, detectShadows=False)
    empty = Renderer(scene)
    empty.people.clear()
    for i in range(30):
        mog.apply(empty.render(0.0, i)[0], learningRate=0.1)
    r = Renderer(scene)
    frame, truth = r.render(3.0, 31)
    fg = cv2.morphologyEx(mog.apply(frame, learningRate=0), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(fg)
    x, y, w, h = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), :4]
    bx0, by0, bx1, by1 = truth.people[0].bbox or (0, 0, 0, 0)
    inter = max(0, min(x + w, bx1) - max(x, bx0)) * max(0, min(y + h, by1) - max(y, by0))
    union = w * h + (bx1 - bx0) * (by1 - by0) - inter
    assert inter / union > 0.6


def test_furniture_hides_part_of_a_person_behind_it() -> None:
    r = Renderer(load_scene(scene_path("fall_behind_table")))
    (fall,) = r.events
    p = _truth_at(r, fall.impact_t + 1.0).people[0]
    assert p.visible and 0.1 < p.visible_fraction < 0.9


def test_a_shadow_cast_wholly_outside_the_view_renders() -> None:
    # Regression: at 320 x 240, fall seed 73 casts its shadow past the frame's edge at t = 3 s,
    # which clipped to an empty window and made cv2.GaussianBlur raise.
    scene = random_scene(73, "fall")
    scene = replace(scene, camera=replace(scene.camera, resolution=(320, 240), fps=10.0))
    image, truth = Renderer(scene).render(3.0, 30)
    assert image.shape == (240, 320, 3)
    assert truth.index == 30


def test_lying_on_the_floor_on_purpose_is_intentional_and_ends_on_getting_up() -> None:
    r = Renderer(load_scene(scene_path("adl_lie_floor")))
    (lie,) = r.events
    assert lie.type == "lie_down" and lie.intentional and lie.kind == "floor" and lie.on_furniture is None
    assert 1.5 <= lie.impact_t - lie.start_t <= 5.0  # eased down, not dropped
    assert lie.end_t is not None and lie.end_t > lie.impact_t + 9.0
    p = _truth_at(r, lie.impact_t + 2.0).people[0]
    assert p.lying and p.on_floor and not p.fallen and not p.falling
    up = _truth_at(r, r.duration_s - 0.2).people[0]
    assert not up.lying and up.head_z > 1.2
