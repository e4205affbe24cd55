"""Honest scores of the keypoint fall model: ``python -m models.fall.evaluate`` (the fall part of `make eval`).

Scores the committed ONNX file with the gateway's default ``FallSettings`` and the state machine of
gateway/vision/fall_state.py; nothing here fits, tunes or picks anything.

(a) MD4FD evaluation-only windows: ``le2i_home_02`` (49 windows) and ``ur_fall_FALL`` (35 fall
    windows), fed frame by frame (30 fps, no blob boxes: MD4FD has none) through PoseHistory, the
    model and FallState. A window counts as alarmed when fall.detected fires within it. Counted per
    window and per chain of overlapping windows (consecutive windows share 75 of 90 frames).
(b) Held-out simulator scenes (seeds >= 10000, never seen in training): ground-truth joints through
    the measured noise model: recall, false alarms per everyday hour, lie-down-on-purpose scenes
    alarmed, delay impact -> fall.detected.
(c) ``end_to_end`` (models/fall/camera_eval.py): the real clip fall-01-cam0.mp4 through CameraSource,
    and rendered held-out scenes, through the gateway's whole camera path (motion, tracking, MoveNet
    crops, keypoint model, state machine). The UR Fall depth-feature CSVs are no longer scored:
    their per-frame features are Kinect depth silhouettes (height/width, occupancy, ...), which do not
    map to keypoints.

Writes run/eval/fall.json and the generated section of models/fall/EVALUATION.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from gateway.vision.fall import FallSettings
from models.fall import camera_eval
from models.fall.scoring import SimScore, onnx_scorer
from models.fall.sequences import Scorer, Sequence, md4fd, play
from models.fall.train import noise_model, simulated
from models.generated import END, begin, replace_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODEL = HERE / "fall_model.onnx"
OUT = REPO / "run" / "eval" / "fall.json"
REPORT = HERE / "EVALUATION.md"
BEGIN_EVAL = begin("models/fall/evaluate.py")
EVAL_MD4FD = ("le2i_home_02.json", "ur_fall_FALL.json")  # evaluation only: never trained or tuned on
HELD_OUT = {"fall": 100, "adl": 200}
HELD_OUT_FROM = 10000
CAMERA_SCENES = (40, 40)  # held-out fall and everyday scenes rendered through the whole camera path


def chains(seqs: list[Sequence]) -> list[list[int]]:
    """Indices of ``seqs`` grouped into chains of overlapping windows (same frames shifted by 15)."""
    out: list[list[int]] = []
    for i, seq in enumerate(seqs):
        prev = seqs[i - 1] if i else None
        overlap = prev is not None and _same(prev.frames[15:], seq.frames[:-15])
        if overlap and out:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _same(a: list[Any], b: list[Any]) -> bool:
    def key(f: Any) -> tuple[float, ...]:
        return () if f[1] is None else tuple(np.round(f[1].xy.ravel(), 3))

    return len(a) == len(b) and all(key(x) == key(y) for x, y in zip(a, b, strict=True))


def part_md4fd(name: str, scorer: Scorer, settings: FallSettings) -> dict[str, Any]:
    """Per-window and per-chain sensitivity / specificity of one MD4FD file."""
    seqs = md4fd(name)
    alarmed = [bool(play(seq, scorer, settings)) for seq in seqs]
    fall = [bool(seq.fall_label) for seq in seqs]
    groups = chains(seqs)
    out: dict[str, Any] = {"windows": len(seqs), "chains": len(groups)}
    for unit, items in (("window", [[i] for i in range(len(seqs))]), ("chain", groups)):
        # a chain is a fall chain when any of its windows is labelled fall
        is_fall = [any(fall[i] for i in g) for g in items]
        hit = [any(alarmed[i] for i in g) for g in items]
        falls, everyday = sum(is_fall), len(items) - sum(is_fall)
        found = sum(h for h, f in zip(hit, is_fall, strict=True) if f)
        false = sum(h for h, f in zip(hit, is_fall, strict=True) if not f)
        out[unit] = {
            "falls": falls,
            "falls_alarmed": found,
            "sensitivity": found / falls if falls else math.nan,
            "everyday": everyday,
            "everyday_alarmed": false,
            "specificity": 1 - false / everyday if everyday else math.nan,
        }
    out["missed_windows"] = [i for i in range(len(seqs)) if fall[i] and not alarmed[i]]
    out["false_alarm_windows"] = [i for i in range(len(seqs)) if not fall[i] and alarmed[i]]
    return out


def part_sim(scorer: Scorer, settings: FallSettings) -> dict[str, Any]:
    """Held-out simulator scenes: ground-truth joints + measured noise, through the state machine."""
    jobs = [(HELD_OUT_FROM + i, kind) for kind, n in HELD_OUT.items() for i in range(n)]
    score = SimScore()
    for seq in simulated(jobs, noise_model()):
        score.add(seq, play(seq, scorer, settings))
    return {"scenes": HELD_OUT, **score.as_dict()}


def end_to_end(settings: FallSettings) -> dict[str, Any]:
    """Camera-path figures: the real clip and rendered held-out scenes through MoveNet (camera_eval)."""
    return {"real_clip": camera_eval.real_clip(settings), "rendered": camera_eval.rendered(*CAMERA_SCENES)}


def _f(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    rows = ["| part | measure | value |", "|---|---|--:|"]
    for name in EVAL_MD4FD:
        r = results["md4fd"][name]
        for unit in ("window", "chain"):
            u = r[unit]
            rows.append(
                f"| (a) {name} per {unit} | sensitivity (falls alarmed) | {u['falls_alarmed']}/{u['falls']} = {_f(u['sensitivity'])} |"
            )
            if u["everyday"]:
                rows.append(
                    f"| (a) {name} per {unit} | specificity (1 − everyday alarmed) | {_f(u['specificity'])} ({u['everyday_alarmed']}/{u['everyday']} alarmed) |"
                )
    s = results["sim"]
    rows += [
        f"| (b) held-out sim | recall | {s['found']}/{s['falls']} = {_f(s['recall'])} |",
        f"| (b) held-out sim | false alarms per everyday camera-hour | {_f(s['false_alarms_per_everyday_camera_hour'], 2)} ({s['everyday_false_alarms']} in {s['everyday_camera_hours']:.2f} h) |",
        f"| (b) held-out sim | lie-down-on-purpose scenes alarmed | {s['lie_down_scenes_alarmed']}/{s['lie_down_scenes']} |",
        f"| (b) held-out sim | delay impact → fall.detected p50 / p95 [s] | {_f(s['delay_s_p50'], 2)} / {_f(s['delay_s_p95'], 2)} |",
    ]  # fmt: skip
    c = results["end_to_end"]
    if c:
        clip, r = c["real_clip"], c["rendered"]
        rows += [
            f"| (c) fall-01-cam0.mp4, camera path | fall.detected after the first lying frame [s] (target <= 1) | {_f(clip['delay_from_first_lying_frame_s'], 2)} |",
            f"| (c) fall-01-cam0.mp4, camera path | events before the fall (target 0) | {clip['events_before_the_fall']} ({', '.join(clip['events'])}) |",
            f"| (c) rendered held-out, camera path | recall (target >= 0.90) | {r['found']}/{r['falls']} = {_f(r['recall'])} |",
            f"| (c) rendered held-out, camera path | false alarms per everyday camera-hour (target <= 0.1) | {_f(r['false_alarms_per_everyday_hour'], 2)} ({r['everyday_false_alarms']} in {r['everyday_hours']:.2f} h) |",
            f"| (c) rendered held-out, camera path | lie-down-on-purpose scenes alarmed (target <= 5 %) | {r['lie_down_scenes_alarmed']}/{r['lie_down_scenes']} |",
            f"| (c) rendered held-out, camera path | delay impact → fall.detected p50 / p95 [s] (target p95 < 1) | {_f(r['delay_p50_s'], 2)} / {_f(r['delay_p95_s'], 2)} |",
            f"| (c) rendered held-out, camera path | pose inferences per analysed frame | {_f(r['pose_runs_per_analysed_frame'], 3)} |",
        ]  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    """Run (a), (b), (c); print the table; write run/eval/fall.json and EVALUATION.md."""
    started = time.monotonic()
    settings = FallSettings()
    scorer = onnx_scorer(MODEL)
    results: dict[str, Any] = {
        "model_sha256_12": hashlib.sha256(MODEL.read_bytes()).hexdigest()[:12],
        "settings": {"threshold": settings.threshold, "detect_windows": settings.detect_windows,
                     "min_history_s": settings.min_history_s},
        "md4fd": {name: part_md4fd(name, scorer, settings) for name in EVAL_MD4FD},
        "sim": part_sim(scorer, settings),
        "end_to_end": end_to_end(settings),
    }  # fmt: skip
    results["seconds"] = round(time.monotonic() - started, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1), encoding="utf-8")
    text = table(results)
    print(text)
    section = f"{BEGIN_EVAL}\nModel `{results['model_sha256_12']}`, settings {results['settings']}.\n\n{text}\n{END}"
    replace_section(REPORT, BEGIN_EVAL, section)
    print(f"\nwrote {OUT.relative_to(REPO)} and {REPORT.relative_to(REPO)} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
