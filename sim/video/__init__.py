"""Video simulator: rendered rooms with people who walk, sit, lie down and fall, with ground truth.

- `load_scene(path)` / `list_scenes()` / `scene_path(name)`: the packaged YAML scenes (`scenes/`).
- `random_scene(seed, kind)`: generated "fall" or "adl" scenes; `split(seed)`: train / held_out.
- `render_frames(scene)`: (t, frame_bgr, FrameTruth) for every frame, nothing encoded (training).
- `render_to_file(scene, path)`: .avi (MJPEG) or .mp4 (mp4v) plus ground truth `<path>.json`.
- `MjpegServer({cam_id: scene})`: live MJPEG over HTTP on 127.0.0.1 with fault injection.
"""

from sim.video.generate import HELD_OUT_FROM, random_scene, split
from sim.video.loader import SceneError, list_scenes, load_scene, parse_scene, scene_path
from sim.video.output import render_to_file
from sim.video.render import Renderer, render_frames
from sim.video.scene import Scene
from sim.video.script import TruthEvent
from sim.video.server import MjpegServer
from sim.video.truth import FrameTruth, PersonTruth

__all__ = [
    "HELD_OUT_FROM",
    "FrameTruth",
    "MjpegServer",
    "PersonTruth",
    "Renderer",
    "Scene",
    "SceneError",
    "TruthEvent",
    "list_scenes",
    "load_scene",
    "parse_scene",
    "random_scene",
    "render_frames",
    "render_to_file",
    "scene_path",
    "split",
]
