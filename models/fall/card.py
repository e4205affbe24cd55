"""The generated sections of models/fall/MODEL_CARD.md (train.py) and EVALUATION.md (evaluate.py).

Every number in those sections is written here from computed values; nothing is typed by hand.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from gateway.vision.fall import FallSettings
from gateway.vision.silhouette import FEATURES, STEP_S, WINDOW_STEPS
from models.fall.data import HELD_OUT_FROM, POSITIVE, PREROLL_S, RENDER_SIZE, SceneData, labels
from models.generated import END, begin

if TYPE_CHECKING:
    from models.fall.train import Choice

BEGIN_CARD = begin("models/fall/train.py")
BEGIN_EVAL = begin("models/fall/evaluate.py")


def _n(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _data_section(scenes: list[SceneData]) -> list[str]:
    falls = [f for s in scenes for f in s.falls]
    kinds = Counter(f.kind for f in falls)
    lie_downs = Counter(e.kind for s in scenes for e in s.events if e.type == "lie_down")
    hours = sum(s.duration_s for s in scenes) / 3600
    windows, positives = 0, 0
    for scene in scenes:
        y, w = labels(scene)
        windows += int((w > 0).sum())
        positives += int(y.sum())
    seeds = sorted({s.seed for s in scenes})
    return [
        "### Training data (simulator only)",
        f"{len(scenes)} scenes from `sim.video.generate.random_scene`, seeds {seeds[0]}–{seeds[-1]} "
        f"(all < {HELD_OUT_FROM}), kinds: "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(s.kind for s in scenes).items()))
        + f"; {hours:.2f} camera-hours rendered at {RENDER_SIZE[0]}×{RENDER_SIZE[1]}, 10 fps, each after "
        f"{PREROLL_S:g} s of the empty room. {len(falls)} falls ("
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        + f"), {sum(lie_downs.values())} intentional lie-downs ("
        + ", ".join(
            f"on a {k} {v}" if k != "floor" else f"on the floor {v}" for k, v in sorted(lie_downs.items())
        )
        + f"). {windows} labelled windows, "
        f"{positives} positive (window ends {POSITIVE[0]:+g} … {POSITIVE[1]:+g} s around a fall's impact).",
    ]


def _failed_line(failed: list[tuple[int, str, str]]) -> str:
    if not failed:
        return ""
    errors = Counter(e.split(":")[-1].strip()[:80] for _, _, e in failed)
    scenes = ", ".join(f"{k} {s}" for s, k, _ in failed)
    return f"\n\nThe simulator could not render {len(failed)} scenes ({scenes}; {dict(errors)}); they are left out."


def _choice_section(choice: Choice) -> list[str]:
    lines = [
        "### Model selection (validation split of the training seeds: seed % 5 == 0)",
        (
            "| candidate @ best threshold | window AP | window ROC AUC | falls found | false alarms "
            "| per everyday camera-hour "
            "| lie-down scenes alarmed | delay p50 / p95 [s] |"
        ),
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, (window, events, threshold) in choice.results.items():
        d = events.as_dict()
        lines.append(
            f"| {name}{' (chosen)' if name == choice.chosen else ''} @ {threshold} "
            f"| {window['average_precision']:.3f} "
            f"| {window['roc_auc']:.3f} | {d['found']}/{d['falls']} | {d['false_alarms']} "
            f"| {_n(d['false_alarms_per_everyday_camera_hour'], 2)} "
            f"| {d['lie_down_scenes_alarmed']}/{d['lie_down_scenes']} "
            f"| {_n(d['delay_s_p50'], 2)} / {_n(d['delay_s_p95'], 2)} |"
        )
    lines += [
        "",
        (
            f"Chosen: **{choice.chosen}**, refitted on all training scenes; its probability p is exported as "
            f"p^γ with γ = ln 0.5 / ln {choice.threshold}, so the validation operating point p = {choice.threshold} "
            "is the detector's default threshold 0.5."
        ),
    ]
    return lines


def _int8_section(int8: dict[str, Any]) -> list[str]:
    size, lat, ev = int8["size_bytes"], int8["latency_us_batch1"], int8["events"]
    win = int8["window"]
    return [
        "### INT8 variant (onnxruntime.quantization.quantize_dynamic, QInt8 weights)",
        "| | float | INT8 |",
        "|---|--:|--:|",
        f"| file size [bytes] | {size['float']} | {size['int8']} |",
        f"| latency, one window, 1 thread [µs] | {lat['float']:.0f} | {lat['int8']:.0f} |",
        f"| window AP, validation split* | {win['float']['average_precision']:.4f} | {win['int8']['average_precision']:.4f} |",
        f"| falls found, validation split* | {ev['float']['found']}/{ev['float']['falls']} | {ev['int8']['found']}/{ev['int8']['falls']} |",
        f"| false alarms, validation split* | {ev['float']['false_alarms']} | {ev['int8']['false_alarms']} |",
        "",
        ("\\* in-sample: the exported model was refitted on all training scenes, the validation split "
        "included; held-out figures for both files are in EVALUATION.md."),
        "",
        (f"Largest probability difference on the validation windows: {int8['max_abs_probability_difference']:.4f}; "
        f"same decision at the threshold on {100 * int8['decision_agreement']:.2f} % of windows."
        + ("" if int8["quantized_nodes"] else " The chosen model has no MatMul or Gemm weights (trees compare "
        "inputs with thresholds), so dynamic quantisation leaves nothing to change: the INT8 file computes what the "
        "float one does.")),
    ]  # fmt: skip


def render(
    scenes: list[SceneData], failed: list[tuple[int, str, str]], choice: Choice, facts: dict[str, Any]
) -> str:
    """The generated Markdown of the model card; ``facts``: int8 comparison, sha256, seconds."""
    settings = FallSettings()
    int8, sha256, seconds = facts["int8"], facts["sha256"], facts["seconds"]
    header = (
        f"File sha256 `{sha256}`, gateway version `{sha256[:12]}`. Input: {WINDOW_STEPS} steps × "
        f"{len(FEATURES)} features ({', '.join(FEATURES)}) at {STEP_S:g} s. Detector defaults: threshold "
        f"{settings.threshold}, {settings.detect_windows} consecutive windows, confirm after "
        f"{settings.confirm_s:g} s. `python -m models.fall.train` took {seconds / 60:.1f} min."
    )
    blocks = [
        BEGIN_CARD,
        header,
        "\n".join(_data_section(scenes)) + _failed_line(failed),
        "\n".join(_choice_section(choice)),
        "\n".join(_int8_section(int8)),
        END,
    ]
    return "\n\n".join(blocks)


def evaluation_section(results: dict[str, Any], table: str) -> str:
    """The generated Markdown of EVALUATION.md."""
    a, b, c = results["urfd_float"], results["clip"], results["sim"]
    lines = [
        BEGIN_EVAL,
        (f"Models: float `{results['model_sha256_12']['float']}`, INT8 `{results['model_sha256_12']['int8']}`. "
        f"`python -m models.fall.evaluate` took {results['seconds'] / 60:.1f} min."),
        table,
        "### (a) UR Fall, cam0 per-frame features",
        (f"Missed falls: {', '.join(a['missed_falls']) or 'none'}. Alarmed ADLs: {', '.join(a['alarmed_adls']) or 'none'}. "
        f"Delay after the first transition (label 0) frame: p50 {_n(a['delay_from_first_transition_frame_s']['p50'], 2)} s, "
        f"p95 {_n(a['delay_from_first_transition_frame_s']['p95'], 2)} s; after the first lying frame: min "
        f"{_n(a['delay_from_first_lying_frame_s']['min'], 2)} s, max {_n(a['delay_from_first_lying_frame_s']['max'], 2)} s."),
        "### (b) fall-01-cam0.mp4 through the camera path",
        (f"{b['path']}; finished: {b['finished']}; frames read {b['frames_read']}, analysed {b['frames_analysed']}; "
        f"events: {', '.join(b['events']) or 'none'}; fall.detected at {_n(b['fall_detected_at_s'], 2)} s "
        f"(first lying frame at {b['first_lying_frame_at_s']} s)."),
        "### (c) Held-out simulator scenes",
        f"Scenes: {', '.join(f'{k} {v}' for k, v in c['scenes'].items())} (seeds ≥ {HELD_OUT_FROM}), of which "
        f"{len(c['simulator_failed'])} the simulator could not render (left out); rendering and "
        f"running took {c['seconds_to_render_and_run'] / 60:.1f} min. Recall by fall kind (end to end): "
        + ", ".join(f"{k} {v}" for k, v in c["float_end_to_end"]["recall_by_fall_kind"].items())
        + f". Worst delay {_n(c['float_end_to_end']['delay_s_max'], 2)} s. Replayed through the state machine "
        f"from the recorded windows, the float model gives {c['float_replayed']['found']}/{c['float_replayed']['falls']} "
        f"falls and {c['float_replayed']['false_alarms']} false alarms (end to end: "
        f"{c['float_end_to_end']['found']}/{c['float_end_to_end']['falls']}, {c['float_end_to_end']['false_alarms']}).",
        END,
    ]  # fmt: skip
    return "\n\n".join(lines)
