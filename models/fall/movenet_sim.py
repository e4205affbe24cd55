"""How often MoveNet finds the simulator's rendered people: ``python -m models.fall.movenet_sim``.

Renders held-out scenes (seeds >= 10000) at 320 x 240, crops a square around each visible person's
ground-truth box (1.25 x its longer side, as the runtime crops around a tracked blob), runs the shipped
MoveNet Lightning (models/pose/movenet_lightning.onnx; ``MOVENET`` points at it) and counts frames
where it finds the person (>= 5 of the 9 body keypoints scored >= 0.3) and where those keypoints lie
within half a torso of the projected joints, upright and lying apart. A figure for the model card;
the training uses ground-truth joints with the measured noise model instead (models/fall/noise.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from gateway.vision.pose_features import BODY, HIPS, SHOULDERS
from models.fall.simpose import COCO_FROM_CAPSULE, SIZE

MOVENET = Path(
    os.environ.get("MOVENET", Path(__file__).resolve().parents[1] / "pose" / "movenet_lightning.onnx")
)
SEEDS = range(10000, 10012)
EVERY = 10  # every 10th frame of each scene


def _crop(image: Any, box: tuple[float, float, float, float]) -> tuple[Any, float, float, float]:
    x0, y0, x1, y1 = box
    side = 1.25 * max(x1 - x0, y1 - y0, 8.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = cx - side / 2, cy - side / 2
    scale = 192.0 / side
    m = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], np.float64)
    rgb = cv2.warpAffine(image, m, (192, 192), flags=cv2.INTER_LINEAR)[:, :, ::-1]
    return np.ascontiguousarray(rgb, np.uint8), left, top, side


def run() -> dict[str, Any]:
    """Counts per posture: frames with the person visible, found, and found in the right place."""
    from sim.video.body import capsules
    from sim.video.generate import random_scene
    from sim.video.render import Renderer

    sess = ort.InferenceSession(str(MOVENET), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    tally = {k: {"frames": 0, "found": 0, "correct": 0} for k in ("upright", "lying")}
    for seed in SEEDS:
        scene = random_scene(seed, "fall")
        scene = dataclasses.replace(
            scene, camera=dataclasses.replace(scene.camera, resolution=SIZE, fps=10.0)
        )
        render = Renderer(scene)
        for index in range(0, render.n_frames, EVERY):
            t = index / render.fps
            image, truth = render.render(t, index)
            for person, pt in zip(render.people, truth.people, strict=True):
                if pt.bbox is None or pt.visible_fraction < 0.6:
                    continue
                state = person.timeline.at(t).state
                parts, _ = capsules(state, person.dims)
                ends = np.array(
                    [(parts[c].a if e == "a" else parts[c].b) for c, e in COCO_FROM_CAPSULE.values()]
                )
                uv, _ = render.camera.project(ends.astype(np.float64))
                x0, y0, x1, y1 = (float(v) for v in pt.bbox)
                rgb, left, top, side = _crop(image, (x0, y0, x1, y1))
                out = np.asarray(sess.run(None, {name: rgb[None]})[0]).reshape(17, 3)
                xy = np.stack([left + out[:, 1] * side, top + out[:, 0] * side], axis=1)
                tilt = np.degrees(np.arccos(np.cos(state.pose.pitch) * np.cos(state.pose.roll)))
                row = tally["lying" if tilt > 54 else "upright"]
                row["frames"] += 1
                ok = [i for i in BODY if out[i, 2] >= 0.3]
                if len(ok) >= 5:
                    row["found"] += 1
                    torso = np.hypot(*(uv[list(SHOULDERS)].mean(0) - uv[list(HIPS)].mean(0)))
                    err = np.hypot(*(xy[ok] - uv[ok]).T)
                    row["correct"] += int(np.median(err) <= 0.5 * max(torso, 4.0))
    return {"seeds": f"{SEEDS.start}-{SEEDS.stop - 1} (fall kind)", "every_nth_frame": EVERY, **tally}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
