"""Scene files (`sim/video/scenes/*.yaml`): load, validate loudly, list the packaged ones.

Errors name the file, the key path and the bad value. Unknown keys are errors. A script step is
either a bare action (`get_up`) or a one-key mapping (`walk: [2.0, 3.5]`, `sit: chair1`,
`fall: {kind: sideways, side: -1}`); see the packaged scenes for every form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sim.keyframes import Keyframes
from sim.video.scene import (
    ACTIONS,
    FALL_KINDS,
    FLOOR_PATTERNS,
    FURNITURE_TYPES,
    WALLS,
    CameraSpec,
    Color,
    Door,
    Furniture,
    Lighting,
    PersonSpec,
    Room,
    Rug,
    Scene,
    Step,
)

SCENE_DIR = Path(__file__).resolve().parent / "scenes"
DEFAULT_SIZE = {"chair": (0.5, 0.5), "sofa": (2.0, 0.9), "bed": (1.4, 2.05), "table": (1.2, 0.8)}


class SceneError(ValueError):
    """A scene file that does not describe a valid scene."""


@dataclass(frozen=True, slots=True)
class _At:
    """A position in the document, for error messages."""

    where: str

    def __truediv__(self, key: object) -> _At:
        return _At(f"{self.where}[{key}]" if isinstance(key, int) else f"{self.where}.{key}")

    def fail(self, message: str, value: object = None) -> SceneError:
        return SceneError(f"{self.where}: {message} (value: {value!r})")


def _map(at: _At, value: object, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise at.fail("expected a mapping", value)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise (at / unknown[0]).fail(f"unknown key; known: {', '.join(allowed)}", value[unknown[0]])
    return value


def _num(at: _At, value: object, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise at.fail(f"expected a number in [{lo}, {hi}]", value)
    return float(value)


def _pair(at: _At, value: object, lo: float = -50.0, hi: float = 50.0) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise at.fail("expected [a, b]", value)
    return _num(at / 0, value[0], lo, hi), _num(at / 1, value[1], lo, hi)


def _choice(at: _At, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise at.fail(f"expected one of {', '.join(choices)}", value)
    return str(value)


def _colour(at: _At, value: object) -> Color:
    text = str(value)
    if not (text.startswith("#") and len(text) == 7):
        raise at.fail('expected a colour "#rrggbb"', value)
    try:
        r, g, b = (int(text[i : i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        raise at.fail('expected a colour "#rrggbb"', value) from None
    return (b, g, r)


def _keyframes(at: _At, value: object) -> Keyframes:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Keyframes.constant(_num(at, value, 0.0, 2.0))
    if not isinstance(value, list) or not value:
        raise at.fail("expected a level or [[t, level], ...]", value)
    points = tuple(_pair(at / i, p, 0.0, 1.0e5) for i, p in enumerate(value))
    if any(b[0] < a[0] for a, b in pairwise(points)):
        raise at.fail("keyframe times must not decrease", value)
    return Keyframes(points)


def _camera(at: _At, raw: object) -> CameraSpec:
    m = _map(
        at, raw, ("resolution", "position", "height_m", "tilt_deg", "pan_deg", "hfov_deg", "fps", "noise")
    )
    d = CameraSpec()
    res = _pair(at / "resolution", m.get("resolution", list(d.resolution)), 160, 1920)
    return CameraSpec(
        resolution=(int(res[0]), int(res[1])),
        position=_pair(at / "position", m.get("position", list(d.position))),
        height_m=_num(at / "height_m", m.get("height_m", d.height_m), 1.0, 6.0),
        tilt_deg=_num(at / "tilt_deg", m.get("tilt_deg", d.tilt_deg), 0.0, 89.0),
        pan_deg=_num(at / "pan_deg", m.get("pan_deg", d.pan_deg), -360.0, 360.0),
        hfov_deg=_num(at / "hfov_deg", m.get("hfov_deg", d.hfov_deg), 30.0, 120.0),
        fps=_num(at / "fps", m.get("fps", d.fps), 5.0, 30.0),
        noise=_num(at / "noise", m.get("noise", d.noise), 0.0, 30.0),
    )


def _furniture(at: _At, raw: object) -> Furniture:
    m = _map(at, raw, ("id", "type", "at", "size", "heading_deg", "color"))
    kind = _choice(at / "type", m.get("type"), FURNITURE_TYPES)
    return Furniture(
        id=str(m.get("id", kind)),
        type=kind,
        at=_pair(at / "at", m.get("at")),
        size=_pair(at / "size", m.get("size", list(DEFAULT_SIZE[kind])), 0.2, 4.0),
        heading_deg=_num(at / "heading_deg", m.get("heading_deg", 0.0), -360, 360),
        color=_colour(at / "color", m.get("color", "#785a3c")),
    )


def _room(at: _At, raw: object) -> Room:
    m = _map(
        at,
        raw,
        ("size", "ceiling_m", "floor", "floor_pattern", "wall", "window", "rug", "doors", "furniture"),
    )
    d = Room()
    rug = None
    if m.get("rug") is not None:
        r = _map(at / "rug", m["rug"], ("at", "size", "color"))
        rug = Rug(
            _pair(at / "rug" / "at", r.get("at")),
            _pair(at / "rug" / "size", r.get("size")),
            _colour(at / "rug" / "color", r.get("color")),
        )
    doors = []
    for i, raw_door in enumerate(m.get("doors", [])):
        dm = _map(at / "doors" / i, raw_door, ("wall", "at", "width"))
        wall = _choice(at / "doors" / i / "wall", dm.get("wall"), WALLS)
        doors.append(
            Door(
                wall,
                _num(at / "doors" / i / "at", dm.get("at"), 0, 50),
                _num(at / "doors" / i / "width", dm.get("width", 0.9), 0.6, 3.0),
            )
        )
    furniture = tuple(_furniture(at / "furniture" / i, f) for i, f in enumerate(m.get("furniture", [])))
    return Room(
        size=_pair(at / "size", m.get("size", list(d.size)), 2.0, 30.0),
        ceiling_m=_num(at / "ceiling_m", m.get("ceiling_m", d.ceiling_m), 2.2, 6.0),
        floor=_colour(at / "floor", m["floor"]) if "floor" in m else d.floor,
        floor_pattern=_choice(at / "floor_pattern", m.get("floor_pattern", d.floor_pattern), FLOOR_PATTERNS),
        wall=_colour(at / "wall", m["wall"]) if "wall" in m else d.wall,
        window=bool(m.get("window", d.window)),
        rug=rug,
        doors=tuple(doors),
        furniture=furniture,
    )


def _lighting(at: _At, raw: object) -> Lighting:
    m = _map(at, raw, ("ambient", "lamp", "lamp_position", "shadow"))
    d = Lighting()
    pos = m.get("lamp_position")
    if pos is not None and (not isinstance(pos, list) or len(pos) != 3):
        raise (at / "lamp_position").fail("expected [x, y, z]", pos)
    return Lighting(
        ambient=_keyframes(at / "ambient", m["ambient"]) if "ambient" in m else d.ambient,
        lamp=_keyframes(at / "lamp", m["lamp"]) if "lamp" in m else d.lamp,
        lamp_position=None
        if pos is None
        else (*_pair(at / "lamp_position", pos[:2]), _num(at / "lamp_position" / 2, pos[2], 0.5, 6.0)),
        shadow=_num(at / "shadow", m.get("shadow", d.shadow), 0.0, 1.0),
    )


def _step(at: _At, raw: object) -> Step:
    if isinstance(raw, str):
        action, arg = raw, None
    elif isinstance(raw, Mapping) and len(raw) == 1:
        action, arg = next(iter(raw.items()))
    else:
        raise at.fail("expected an action or a one-key mapping {action: argument}", raw)
    action = _choice(at, action, ACTIONS)
    return _STEP_PARSERS.get(action, _seconds_step)(at / action, action, arg)


def _seconds_step(at: _At, action: str, arg: object) -> Step:
    if isinstance(arg, Mapping):
        m = _map(at, arg, ("for",))
        arg = m.get("for")
    return Step(action, seconds=None if arg is None else _num(at, arg, 0.0, 3600.0))


def _place_step(at: _At, action: str, arg: object) -> Step:
    if isinstance(arg, str):
        return Step(action, on=arg) if action in ("sit", "lie") or arg != "door" else Step(action, on="door")
    if isinstance(arg, list):
        return Step(action, target=_pair(at, arg))
    m = _map(at, arg, ("to", "on", "for", "speed", "side", "heading_deg"))
    return Step(
        action,
        target=None if m.get("to") is None else _pair(at / "to", m["to"]),
        on=None if m.get("on") is None else str(m["on"]),
        seconds=None if m.get("for") is None else _num(at / "for", m["for"], 0.0, 3600.0),
        speed=None if m.get("speed") is None else _num(at / "speed", m["speed"], 0.2, 3.0),
        side=int(_choice(at / "side", m.get("side", 1), (-1, 1))),  # type: ignore[arg-type]
    )


def _turn_step(at: _At, action: str, arg: object) -> Step:
    return Step(action, heading_deg=_num(at, arg, -360.0, 360.0))


def _fall_step(at: _At, action: str, arg: object) -> Step:
    if isinstance(arg, str):
        return Step(action, kind=_choice(at, arg, FALL_KINDS))
    m = _map(at, arg, ("kind", "duration", "side"))
    return Step(
        action,
        kind=_choice(at / "kind", m.get("kind", "forward"), FALL_KINDS),
        seconds=None if m.get("duration") is None else _num(at / "duration", m["duration"], 0.3, 8.0),
        side=int(_choice(at / "side", m.get("side", 1), (-1, 1))),  # type: ignore[arg-type]
    )


_STEP_PARSERS: Mapping[str, Callable[[_At, str, object], Step]] = {
    "walk": _place_step, "sit": _place_step, "lie": _place_step, "leave": _place_step,
    "enter": _place_step, "turn": _turn_step, "fall": _fall_step,
}  # fmt: skip


def _person(at: _At, raw: object, index: int) -> PersonSpec:
    keys = (
        "id",
        "start",
        "heading_deg",
        "height_m",
        "girth",
        "speed",
        "top",
        "bottom",
        "skin",
        "hair",
        "shoes",
        "script",
    )
    m = _map(at, raw, keys)
    d = PersonSpec(id="", start=(0.0, 0.0))
    colours = {
        k: _colour(at / k, m[k]) if k in m else getattr(d, k)
        for k in ("top", "bottom", "skin", "hair", "shoes")
    }
    script = m.get("script", [])
    if not isinstance(script, list):
        raise (at / "script").fail("expected a list of steps", script)
    return PersonSpec(
        id=str(m.get("id", f"p{index + 1}")),
        start=_pair(at / "start", m.get("start")),
        heading_deg=_num(at / "heading_deg", m.get("heading_deg", 90.0), -360, 360),
        height_m=_num(at / "height_m", m.get("height_m", 1.75), 1.0, 2.1),
        girth=_num(at / "girth", m.get("girth", 1.0), 0.7, 1.6),
        speed=_num(at / "speed", m.get("speed", 1.1), 0.2, 2.5),
        script=tuple(_step(at / "script" / i, s) for i, s in enumerate(script)),
        **colours,
    )


def parse_scene(raw: object, where: str = "scene") -> Scene:
    """A Scene from a parsed YAML document (checked, including that every script can be played)."""
    at = _At(where)
    m = _map(at, raw, ("name", "description", "seed", "duration_s", "camera", "room", "lighting", "people"))
    people = m.get("people", [])
    if not isinstance(people, list) or len(people) > 4:
        raise (at / "people").fail("expected a list of at most 4 people", people)
    scene = Scene(
        name=str(m.get("name", "scene")),
        description=str(m.get("description", "")).strip(),
        seed=int(_num(at / "seed", m.get("seed", 0), 0, 2**31)),
        duration_s=None
        if m.get("duration_s") is None
        else _num(at / "duration_s", m["duration_s"], 1.0, 3600.0),
        camera=_camera(at / "camera", m.get("camera", {})),
        room=_room(at / "room", m.get("room", {})),
        lighting=_lighting(at / "lighting", m.get("lighting", {})),
        people=tuple(_person(at / "people" / i, p, i) for i, p in enumerate(people)),
    )
    check_scene(scene, at)
    return scene


def check_scene(scene: Scene, at: _At | None = None) -> None:
    """Raise SceneError if the camera is outside the room or a script cannot be played."""
    from sim.video.script import ScriptError, compile_person

    at = at or _At(scene.name)
    w, d = scene.room.size
    x, y = scene.camera.position
    if not (0.0 <= x <= w and 0.0 <= y <= d and scene.camera.height_m < scene.room.ceiling_m):
        raise (at / "camera").fail(
            "the camera must be inside the room, below the ceiling", scene.camera.position
        )
    for i in range(len(scene.people)):
        try:
            compile_person(scene, i)
        except (ScriptError, ValueError, KeyError) as exc:
            raise (at / "people" / i / "script").fail(str(exc), scene.people[i].id) from exc


def load_scene(path: Path) -> Scene:
    """Load and check one scene file."""
    try:
        raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise SceneError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scene(raw, where=path.name)


def list_scenes() -> list[str]:
    """Names of the packaged scenes."""
    return sorted(p.stem for p in SCENE_DIR.glob("*.yaml"))


def scene_path(name: str) -> Path:
    """The file of a packaged scene."""
    return SCENE_DIR / f"{name}.yaml"
