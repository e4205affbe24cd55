"""MoveNet keypoints of every GMDCSA24 frame, full frame and crop-tracked, with their statistics.

``python -m models.pose.keypoints`` runs the shipped ``movenet_lightning.onnx`` on the 8 development
clips, saves ``cache/gmdcsa24_keypoints.npz`` (per clip: ``<clip>/full`` and ``<clip>/crop`` keypoints
(T, 17, 3) as x, y in original-frame pixels and score; ``<clip>/fps``; ``<clip>/size`` width, height),
prints statistics per clip and per annotated activity, and writes them into MODEL_CARD.md. They
calibrate a keypoint noise model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from models import generated
from models.pose import movenet
from models.pose.clips import Clip, Image, clips, read_frames
from models.pose.stats import Tally, Track, tally
from models.pose.tracking import CropTracker

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "gmdcsa24_keypoints.npz"
STATS = HERE / "cache" / "gmdcsa24_stats.json"
CARD = HERE / "MODEL_CARD.md"
MODES = ("full", "crop")
Table = dict[str, dict[str, dict[str, float]]]  # mode -> group -> column -> value


def track_clip(clip: Clip) -> tuple[dict[str, Track], float, tuple[int, int], int]:
    """Keypoints of every frame in both modes, the fps, the frame size and the crop fallbacks."""
    sess = movenet.session()
    tracker = CropTracker(sess)

    def full(image: Image) -> movenet.Keypoints:
        return movenet.keypoints(sess, image, movenet.Window.full(image.shape[1], image.shape[0]))

    fps, frames = read_frames(clip.path)
    out: dict[str, list[movenet.Keypoints]] = {"full": [], "crop": []}
    size = (0, 0)
    for image in frames:
        size = (image.shape[1], image.shape[0])
        out["full"].append(full(image))
        out["crop"].append(tracker(image))
    return {m: np.stack(v) for m, v in out.items()}, fps, size, tracker.fallbacks


def run() -> tuple[Table, Table, dict[str, int]]:
    """Track every clip, save the cache; per-clip and per-activity tables and crop fallbacks."""
    arrays: dict[str, npt.NDArray[Any]] = {"keypoint_names": np.array(movenet.NAMES)}
    per_clip: Table = {m: {} for m in MODES}
    per_activity: dict[str, dict[str, Tally]] = {m: {} for m in MODES}
    fallbacks = {}
    for clip in clips():
        tracks, fps, size, fallbacks[clip.name] = track_clip(clip)
        arrays |= {f"{clip.name}/fps": np.array(fps), f"{clip.name}/size": np.array(size)}
        for mode in MODES:
            arrays[f"{clip.name}/{mode}"] = tracks[mode]
            per_clip[mode][clip.name] = tally(clip, tracks[mode], fps, per_activity[mode]).row()
            per_clip[mode][clip.name]["fps"] = fps
    arrays["model_sha256"] = np.array(hashlib.sha256(movenet.MODEL.read_bytes()).hexdigest())
    CACHE.parent.mkdir(exist_ok=True)
    np.savez_compressed(CACHE, **cast(dict[str, Any], arrays))  # numpy's stub types **kwds as bool
    activities = {m: {k: t.row() for k, t in sorted(per_activity[m].items())} for m in MODES}
    return per_clip, activities, fallbacks


def _cell(full: float, crop: float, fmt: str) -> str:
    if np.isnan(full) and np.isnan(crop):
        return "–"  # no still-standing frame pairs in this group
    return f"{full:{fmt}} / {crop:{fmt}}"


def table(rows: Table, title: str, fallbacks: dict[str, int] | None = None) -> str:
    """A markdown table, each cell ``full frame / crop-tracked``."""
    lines = [
        f"| {title} | frames | torso score | frames with >= 5 kp >= 0.3 | still jitter / torso (median) "
        "| still jitter px | still pairs |" + (" crop fallbacks |" if fallbacks else ""),
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if fallbacks else ""),
    ]
    for name, f in rows["full"].items():
        c = rows["crop"][name]
        cells = [
            f"{f['frames']:.0f}",
            _cell(f["torso_score"], c["torso_score"], ".2f"),
            _cell(f["visible"], c["visible"], ".2f"),
            _cell(f["jitter"], c["jitter"], ".4f"),
            _cell(f["jitter_px"], c["jitter_px"], ".2f"),
            _cell(f["jitter_pairs"], c["jitter_pairs"], ".0f"),
        ]
        cells += [str(fallbacks[name])] if fallbacks else []
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Command line: see the module docstring."""
    per_clip, per_activity, fallbacks = run()
    text = table(per_clip, "clip", fallbacks) + "\n\n" + table(per_activity, "activity")
    print(text)
    STATS.write_text(json.dumps({"per_clip": per_clip, "per_activity": per_activity}, indent=1))
    writer = "models/pose/keypoints.py"
    section = f"{generated.begin(writer)}\n{text}\n{generated.END}"
    generated.replace_section(CARD, generated.begin(writer), section)
    print(f"saved {CACHE.relative_to(HERE.parents[1])}; statistics written into {CARD.name}")


if __name__ == "__main__":
    main()
