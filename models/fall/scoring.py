"""Event-level scores of the fall detector on simulator scenes, against their ground truth.

A ground-truth fall is found when a ``fall.detected`` falls between the start of the fall motion and
``MATCH_AFTER_S`` after its impact; every other ``fall.detected`` is a false alarm. Delay is counted
from the impact (the end of the fall motion) to ``fall.detected``. Matching is by time within the
scene, not by person: events carry no box (privacy), so the scores use what an integrator sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from gateway.vision.fall import FallSettings
from models.fall.data import SceneData, TruthEvent
from models.fall.replay import FloatArray, replay

MATCH_AFTER_S = 5.0
INPUT, OUTPUT = "windows", "fall_probability"  # tensor names of the exported model


@dataclass
class SimScore:
    """Counts, rates and delays over a set of scenes."""

    falls: int = 0
    found: int = 0
    alarms: int = 0
    false_alarms: int = 0
    hours: float = 0.0
    everyday_hours: float = 0.0  # scenes without any fall
    everyday_false_alarms: int = 0
    lie_down_scenes: int = 0
    lie_down_scenes_alarmed: int = 0
    delays: list[float] = field(default_factory=list)
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # fall kind -> [falls, found]

    @property
    def recall(self) -> float:
        """Falls found / falls."""
        return self.found / self.falls if self.falls else float("nan")

    @property
    def precision(self) -> float:
        """True alarms / alarms."""
        return (self.alarms - self.false_alarms) / self.alarms if self.alarms else float("nan")

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0 when undefined)."""
        p, r = self.precision, self.recall
        return 0.0 if not (p + r > 0) else 2 * p * r / (p + r)

    def per_hour(self, everyday: bool = True) -> float:
        """False alarms per camera-hour (of everyday scenes only, by default)."""
        if everyday:
            return self.everyday_false_alarms / self.everyday_hours if self.everyday_hours else float("nan")
        return self.false_alarms / self.hours if self.hours else float("nan")

    def delay(self, q: float) -> float:
        """Percentile ``q`` of the detection delays [s]."""
        return float(np.percentile(self.delays, q)) if self.delays else float("nan")

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"recall {self.found}/{self.falls} precision {self.precision:.3f} "
            f"false alarms {self.false_alarms} ({self.per_hour():.2f}/h everyday) "
            f"lie-down scenes alarmed {self.lie_down_scenes_alarmed}/{self.lie_down_scenes} "
            f"delay p50 {self.delay(50):.2f} s p95 {self.delay(95):.2f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "falls": self.falls,
            "found": self.found,
            "recall": self.recall,
            "alarms": self.alarms,
            "false_alarms": self.false_alarms,
            "precision": self.precision,
            "camera_hours": round(self.hours, 3),
            "everyday_camera_hours": round(self.everyday_hours, 3),
            "everyday_false_alarms": self.everyday_false_alarms,
            "false_alarms_per_everyday_camera_hour": self.per_hour(),
            "false_alarms_per_camera_hour_all": self.per_hour(everyday=False),
            "lie_down_scenes": self.lie_down_scenes,
            "lie_down_scenes_alarmed": self.lie_down_scenes_alarmed,
            "delay_s_p50": self.delay(50),
            "delay_s_p95": self.delay(95),
            "delay_s_max": max(self.delays) if self.delays else float("nan"),
            "recall_by_fall_kind": {k: f"{v[1]}/{v[0]}" for k, v in sorted(self.by_kind.items())},
        }

    def add_scene(
        self, falls: Sequence[TruthEvent], lies_down: bool, duration_s: float, alarms: list[float]
    ) -> None:
        """Add one scene's ground truth and the times of its fall.detected alarms."""
        self.hours += duration_s / 3600.0
        if not falls:
            self.everyday_hours += duration_s / 3600.0
        self.lie_down_scenes += int(lies_down)
        self.lie_down_scenes_alarmed += int(lies_down and bool(alarms))
        free = sorted(alarms)
        for fall in sorted(falls, key=lambda f: f.impact_t):
            kind = self.by_kind.setdefault(fall.kind, [0, 0])
            kind[0] += 1
            self.falls += 1
            hit = next((a for a in free if fall.start_t <= a <= fall.impact_t + MATCH_AFTER_S), None)
            if hit is not None:
                free.remove(hit)
                self.found += 1
                kind[1] += 1
                self.delays.append(hit - fall.impact_t)
        self.alarms += len(alarms)
        self.false_alarms += len(free)
        if not falls:
            self.everyday_false_alarms += len(free)


def score_scenes(
    scenes: Sequence[SceneData], scorer: Callable[[FloatArray], FloatArray], settings: FallSettings
) -> SimScore:
    """Replay each scene's records with ``scorer`` through the state machine and score the alarms."""
    out = SimScore()
    for scene in scenes:
        windows = scene.records.windows
        scores = scorer(windows) if len(windows) else np.zeros(0, np.float32)
        alarms = [c.time for c in replay(scene.records, scores, settings) if c.kind == "detected"]
        lies = any(e.type == "lie_down" for e in scene.events)
        out.add_scene(scene.falls, lies, scene.duration_s, alarms)
    return out


def onnx_scorer(path: Path) -> Callable[[FloatArray], FloatArray]:
    """Batch scorer running an exported model in onnxruntime (one thread, as on a gateway)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def score(x: FloatArray) -> FloatArray:
        (out,) = session.run([OUTPUT], {INPUT: np.asarray(x, np.float32)})
        return np.asarray(out, np.float32).reshape(-1)

    return score
