"""Video simulator scenes: the packaged library loads, bad files fail loudly, generated scenes vary."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.video import SceneError, list_scenes, load_scene, parse_scene, random_scene, scene_path, split
from sim.video.scene import FALL_KINDS
from sim.video.script import compile_person


def _events(scene_name: str) -> list[tuple[str, str]]:
    scene = load_scene(scene_path(scene_name))
    return [(e.type, e.kind) for i in range(len(scene.people)) for e in compile_person(scene, i)[1]]


def test_library_has_everyday_and_fall_scenes_covering_every_fall_kind() -> None:
    names = list_scenes()
    adl = [n for n in names if n.startswith("adl_")]
    falls = [n for n in names if n.startswith("fall_")]
    assert len(adl) >= 12
    assert len(falls) >= 10
    kinds = {kind for n in falls for t, kind in _events(n) if t == "fall"}
    assert kinds == set(FALL_KINDS)
    for name in adl:
        assert all(t != "fall" for t, _ in _events(name)), name


def test_intentional_lie_downs_in_the_library() -> None:
    assert ("lie_down", "bed") in _events("adl_lie_bed")
    assert ("lie_down", "sofa") in _events("adl_lie_sofa")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"camera": {"fps": 200}}, "scene.camera.fps: expected a number in [5.0, 30.0]"),
        ({"room": {"furniture": [{"type": "piano", "at": [1, 1]}]}}, "scene.room.furniture[0].type"),
        ({"colour": "red"}, "scene.colour: unknown key"),
        (
            {"people": [{"start": [1, 2], "script": [{"fly": 2}]}]},
            "scene.people[0].script[0]: expected one of",
        ),
        ({"people": [{"start": [1, 2], "script": [{"sit": "nochair"}]}]}, "no furniture 'nochair'"),
        ({"people": [{"start": [1, 2], "script": ["down"]}]}, "'down' needs a fall"),
        ({"people": [{"start": [1, 2], "top": "blue"}]}, 'scene.people[0].top: expected a colour "#rrggbb"'),
    ],
)
def test_bad_scene_documents_name_the_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(SceneError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        parse_scene(doc)


def test_random_scenes_are_deterministic_and_varied() -> None:
    assert random_scene(7, "fall") == random_scene(7, "fall")
    assert random_scene(7, "fall") != random_scene(8, "fall")
    kinds: Counter[str] = Counter()
    heights, cams = set(), set()
    for seed in range(30):
        scene = random_scene(seed, "fall")
        events = [
            e for i in range(len(scene.people)) for e in compile_person(scene, i)[1] if e.type == "fall"
        ]
        assert len(events) == 1
        kinds[events[0].kind] += 1
        heights.add(round(scene.people[0].height_m, 1))
        cams.add(round(scene.camera.height_m, 1))
        adl = random_scene(seed, "adl")
        assert all(e.type != "fall" for i in range(len(adl.people)) for e in compile_person(adl, i)[1])
    assert set(kinds) == set(FALL_KINDS)
    assert len(heights) >= 5 and len(cams) >= 5


def test_split_by_seed() -> None:
    assert split(9999) == "train"
    assert split(10000) == "held_out"
    assert random_scene(10000, "adl").description.endswith("(held_out)")


def test_random_everyday_scenes_lie_down_on_beds_sofas_and_the_floor_under_level_and_high_cameras() -> None:
    places: Counter[str] = Counter()
    level = 0
    for seed in range(40):
        scene = random_scene(seed, "adl")
        level += scene.camera.height_m < 1.5
        for i in range(len(scene.people)):
            places.update(e.kind for e in compile_person(scene, i)[1] if e.type == "lie_down")
    assert places["floor"] >= 3 and places["bed"] + places["sofa"] >= 3
    assert 4 <= level <= 20
