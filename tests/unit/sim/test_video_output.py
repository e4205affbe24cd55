"""Video files: both containers OpenCV writes here read back frame-exact, with ground truth beside them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import pytest

from sim.video import load_scene, render_to_file, scene_path


@pytest.mark.parametrize("ext", [".avi", ".mp4"])
def test_written_video_reads_back_with_every_frame_and_its_truth(tmp_path: Path, ext: str) -> None:
    scene = replace(load_scene(scene_path("fall_slide_chair")), duration_s=2.0)
    video = tmp_path / f"clip{ext}"
    truth_file = render_to_file(scene, video)
    assert truth_file == tmp_path / "clip.json"
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened()
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
    count = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (480, 640, 3)
        count += 1
    cap.release()
    truth = json.loads(truth_file.read_text())
    assert count == len(truth["frames"]) == 30
    assert truth["scene"] == "fall_slide_chair" and truth["fps"] == 15.0
    assert [e["kind"] for e in truth["events"]] == ["slide"]  # starts after 2 s, but events are the scene's
    first = truth["frames"][0]["people"][0]
    assert set(first) >= {"bbox", "lying", "on_floor", "activity", "falling", "fallen", "on_furniture"}


def test_unknown_container_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported video type"):
        render_to_file(load_scene(scene_path("adl_walk_across")), tmp_path / "x.mkv")
