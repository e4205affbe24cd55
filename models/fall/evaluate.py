"""Honest scores of the fall model: ``python -m models.fall.evaluate`` (the fall part of `make eval`).

Scores the committed ONNX files (float and INT8) with the gateway's default ``FallSettings``; nothing
here fits, tunes or picks anything.

(a) UR Fall per-frame CSVs (evaluation only; mapping and caveats in models/fall/urfd.py): every
    sequence is replayed at 10 fps through the same windows and state machine as a gateway.
    Sequence level: a ``fall.detected`` in a fall-XX is a true positive, in an adl-XX a false
    positive; the 16 ADLs with lying down are reported apart; delay from the first lying frame.
(b) The real clip fall-01-cam0.mp4 end to end through the camera path: ``CameraSource`` with
    ``realtime: false``, the left (depth) half blacked out by a privacy mask so only the RGB half
    (x 320-639) is analysed; n = 1, a smoke test (the clip has another project's overlays burned in).
(c) Held-out simulator scenes (seeds >= 10000, never seen in training), end to end through
    ``FallDetector``: precision, recall, false alarms per camera-hour of everyday activity, delay from
    the end of a fall (impact) to ``fall.detected``.

Writes run/eval/fall.json and the generated section of models/fall/EVALUATION.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gateway.messages import Event, Frame, SourceStatus
from gateway.sources.camera import CameraSource, CameraSpec
from gateway.vision.fall import FALL_DETECTED, FallDetector, FallSettings, load_file
from gateway.vision.person import BackgroundLocator, BackgroundSettings
from gateway.vision.regions import Regions
from models.fall.card import BEGIN_EVAL, evaluation_section
from models.fall.data import SceneData, record_many, record_named
from models.fall.replay import FloatArray, replay, windows_of
from models.fall.scoring import SimScore, onnx_scorer, score_scenes
from models.fall.urfd import CLIP, LYING, TRANSITION, UrSequence, load_all
from models.generated import replace_section
from sim.video.loader import list_scenes

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODEL = HERE / "fall_model.onnx"
INT8 = HERE / "fall_model.int8.onnx"
MANIFEST = HERE.parent / "MANIFEST.sha256"
OUT = REPO / "run" / "eval" / "fall.json"
REPORT = HERE / "EVALUATION.md"

# Scenes per kind, seeds 10000.. ("adl": everyday activity, often lying down on purpose).
HELD_OUT = {"fall": 100, "adl": 200}
HELD_OUT_FROM = 10000
CLIP_FALL = (83, 113)  # SOURCES.md: fall-01 frames 83-112 falling, 113-160 lying
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]

Scorer = Callable[[FloatArray], FloatArray]


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _sequence_alarm(seq: UrSequence, scorer: Scorer, settings: FallSettings) -> float | None:
    records = windows_of(seq.times, seq.rows, settings.min_history_s)
    scores = scorer(records.windows) if len(records.windows) else np.zeros(0, np.float32)
    alarms = [c.time for c in replay(records, scores, settings) if c.kind == "detected"]
    return alarms[0] if alarms else None


def part_a(scorer: Scorer, settings: FallSettings) -> dict[str, Any]:
    """UR Fall cam0: sequence-level sensitivity, specificity, lying-down ADLs, delays."""
    falls, adls = load_all()
    alarm = {seq.name: _sequence_alarm(seq, scorer, settings) for seq in [*falls, *adls]}
    found = [seq for seq in falls if alarm[seq.name] is not None]
    delay_lying = [alarm[s.name] - (s.first_time(LYING) or 0.0) for s in found]  # type: ignore[operator]
    delay_transition = [alarm[s.name] - (s.first_time(TRANSITION) or 0.0) for s in found]  # type: ignore[operator]
    alarmed = {s.name for s in adls if alarm[s.name] is not None}
    lying = [s for s in adls if s.lies_down]
    other = [s for s in adls if not s.lies_down]
    return {
        "falls": len(falls),
        "falls_detected": len(found),
        "sensitivity": len(found) / len(falls),
        "adls": len(adls),
        "adls_alarmed": len(alarmed),
        "specificity": 1 - len(alarmed) / len(adls),
        "lying_adls": len(lying),
        "lying_adls_alarmed": sum(s.name in alarmed for s in lying),
        "other_adls": len(other),
        "other_adls_alarmed": sum(s.name in alarmed for s in other),
        "alarmed_adls": sorted(alarmed),
        "missed_falls": sorted(s.name for s in falls if alarm[s.name] is None),
        "delay_from_first_lying_frame_s": {"p50": _pct(delay_lying, 50), "p95": _pct(delay_lying, 95),
                                           "min": _pct(delay_lying, 0), "max": _pct(delay_lying, 100)},
        "delay_from_first_transition_frame_s": {"p50": _pct(delay_transition, 50), "p95": _pct(delay_transition, 95)},
        "alarm_time_s": {k: (None if v is None else round(v, 2)) for k, v in sorted(alarm.items())},
    }  # fmt: skip


def part_b(settings: FallSettings) -> dict[str, Any]:
    """fall-01-cam0.mp4 through CameraSource (realtime false), left half masked."""
    regions = Regions(masks=[LEFT_HALF])
    # The file is 640 x 240: analysed whole (the masked half is black) with the locator at 320 px,
    # so the RGB half is worked on at 160 x 120 as a 320-wide camera frame would be.
    locator = BackgroundLocator(BackgroundSettings(work_width=320))
    detector = FallDetector("urfd-fall-01", settings, regions, load_file(MODEL, MANIFEST), locator=locator)
    events: list[Event] = []
    statuses: list[SourceStatus] = []
    first: list[Frame] = []

    def on_frame(frame: Frame) -> None:
        if not first:
            first.append(frame)
        events.extend(detector.on_frame(frame))

    spec = CameraSpec(
        source="urfd-fall-01", url=str(CLIP), analysis_fps=10.0, realtime=False, analysis_width=640
    )
    source = CameraSource(spec, regions.black_out)
    source.start(on_frame, statuses.append)
    finished = source.wait_finished(120.0)
    source.stop()
    counters = source.counters()
    start = first[0].time if first else None
    detected = [e for e in events if e.type == FALL_DETECTED]
    at = (detected[0].time - start).total_seconds() if detected and start else None
    lying_from = (CLIP_FALL[1] - 1) / 30.0
    return {
        "path": "gateway.sources.camera.CameraSource (realtime false) -> FallDetector",
        "finished": finished,
        "frames_read": counters.frames_read,
        "frames_analysed": counters.frames_analysed,
        "events": [e.type for e in events],
        "fall_detected_at_s": None if at is None else round(at, 2),
        "first_lying_frame_at_s": round(lying_from, 2),
        "delay_from_first_lying_frame_s": None if at is None else round(at - lying_from, 2),
    }


def part_c(settings: FallSettings, workers: int = 2) -> dict[str, Any]:
    """Held-out simulator scenes end to end (float model), and the INT8 model replayed on them."""
    jobs = [(HELD_OUT_FROM + i, kind) for kind, n in HELD_OUT.items() for i in range(n)]
    started = time.monotonic()
    scenes, failed = record_many(jobs, workers, model_path=MODEL)
    end_to_end = SimScore()
    for scene in scenes:
        lies = any(e.type == "lie_down" for e in scene.events)
        end_to_end.add_scene(scene.falls, lies, scene.duration_s, list(scene.alarms))
    named = [d for d in record_named(list_scenes(), MODEL, workers) if isinstance(d, SceneData)]
    hand_made = SimScore()
    for scene in named:
        lies = any(e.type == "lie_down" for e in scene.events)
        hand_made.add_scene(scene.falls, lies, scene.duration_s, list(scene.alarms))
    return {
        "scenes": {kind: n for kind, n in HELD_OUT.items()},
        "hand_made_scenes": {s.kind: [round(a, 2) for a in s.alarms] for s in named},
        "hand_made_end_to_end": hand_made.as_dict(),
        "simulator_failed": [f"{kind} {seed}: {error}" for seed, kind, error in failed],
        "seconds_to_render_and_run": round(time.monotonic() - started, 1),
        "float_end_to_end": end_to_end.as_dict(),
        "float_replayed": score_scenes(scenes, onnx_scorer(MODEL), settings).as_dict(),
        "int8_replayed": score_scenes(scenes, onnx_scorer(INT8), settings).as_dict(),
    }


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table (also printed)."""
    a, b, c = results["urfd_float"], results["clip"], results["sim"]["float_end_to_end"]
    a8, c8 = results["urfd_int8"], results["sim"]["int8_replayed"]
    h = results["sim"]["hand_made_end_to_end"]
    rows = [
        "| part | measure | float | INT8 |",
        "|---|---|--:|--:|",
        f"| (a) UR Fall | sensitivity (falls detected / 30) | {a['falls_detected']}/30 = {_f(a['sensitivity'])} | {a8['falls_detected']}/30 = {_f(a8['sensitivity'])} |",
        f"| (a) UR Fall | specificity (1 − ADLs alarmed / 40) | {_f(a['specificity'])} ({a['adls_alarmed']} alarmed) | {_f(a8['specificity'])} ({a8['adls_alarmed']}) |",
        f"| (a) UR Fall | lying-down ADLs alarmed / 16 | {a['lying_adls_alarmed']} | {a8['lying_adls_alarmed']} |",
        f"| (a) UR Fall | other ADLs alarmed / 24 | {a['other_adls_alarmed']} | {a8['other_adls_alarmed']} |",
        f"| (a) UR Fall | delay after first lying frame p50 / p95 [s] | {_f(a['delay_from_first_lying_frame_s']['p50'], 2)} / {_f(a['delay_from_first_lying_frame_s']['p95'], 2)} | {_f(a8['delay_from_first_lying_frame_s']['p50'], 2)} / {_f(a8['delay_from_first_lying_frame_s']['p95'], 2)} |",
        f"| (b) fall-01 clip (n = 1) | events; fall.detected after first lying frame [s] | {', '.join(b['events']) or 'none'}; {_f(b['delay_from_first_lying_frame_s'], 2)} | – |",
        f"| (c) held-out sim | recall (falls found) | {c['found']}/{c['falls']} = {_f(c['recall'])} | {c8['found']}/{c8['falls']} = {_f(c8['recall'])} |",
        f"| (c) held-out sim | precision | {_f(c['precision'])} | {_f(c8['precision'])} |",
        f"| (c) held-out sim | false alarms per camera-hour of everyday activity | {_f(c['false_alarms_per_everyday_camera_hour'], 2)} ({c['everyday_false_alarms']} in {c['everyday_camera_hours']:.2f} h) | {_f(c8['false_alarms_per_everyday_camera_hour'], 2)} |",
        f"| (c) held-out sim | lie-down-on-purpose scenes alarmed | {c['lie_down_scenes_alarmed']}/{c['lie_down_scenes']} | {c8['lie_down_scenes_alarmed']}/{c8['lie_down_scenes']} |",
        f"| (c) held-out sim | delay impact → fall.detected p50 / p95 [s] (target p95 < 1) | {_f(c['delay_s_p50'], 2)} / {_f(c['delay_s_p95'], 2)} | {_f(c8['delay_s_p50'], 2)} / {_f(c8['delay_s_p95'], 2)} |",
        f"| (c') sim hand-made scenes ({len(results['sim']['hand_made_scenes'])}) | falls found; false alarms; lie-down scenes alarmed | {h['found']}/{h['falls']}; {h['false_alarms']}; {h['lie_down_scenes_alarmed']}/{h['lie_down_scenes']} | – |",
    ]  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    """Run (a), (b), (c); print the table; write run/eval/fall.json and EVALUATION.md."""
    started = time.monotonic()
    settings = FallSettings()
    results: dict[str, Any] = {
        "model_sha256_12": {"float": _version(MODEL), "int8": _version(INT8)},
        "settings": {"threshold": settings.threshold, "detect_windows": settings.detect_windows,
                     "confirm_s": settings.confirm_s, "min_history_s": settings.min_history_s},
        "urfd_float": part_a(onnx_scorer(MODEL), settings),
        "urfd_int8": part_a(onnx_scorer(INT8), settings),
        "clip": part_b(settings),
        "sim": part_c(settings),
    }  # fmt: skip
    results["seconds"] = round(time.monotonic() - started, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1), encoding="utf-8")
    text = table(results)
    print(text)
    replace_section(REPORT, BEGIN_EVAL, evaluation_section(results, text))
    print(f"\nwrote {OUT.relative_to(REPO)} and {REPORT.relative_to(REPO)} in {results['seconds']:.0f} s")


def _version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


if __name__ == "__main__":
    main()
