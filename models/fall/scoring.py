"""Event-level scores of the fall detector on (simulated) sequences, against their ground truth.

A ground-truth fall is found when a ``fall.detected`` falls between the start of the fall motion and
``MATCH_AFTER_S`` after its impact; every other ``fall.detected`` is a false alarm. Delay is counted
from the impact (the end of the fall motion) to ``fall.detected``. Matching is by time within the
sequence (one person): events carry no box (privacy), so the scores use what an integrator sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from models.fall.sequences import FloatArray, Sequence

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
        }

    def add(self, seq: Sequence, alarms: list[float]) -> None:
        """Add one sequence's ground truth and the times of its fall.detected alarms."""
        hours = seq.duration_s / 3600.0
        self.hours += hours
        if not seq.falls:
            self.everyday_hours += hours
        self.lie_down_scenes += int(bool(seq.lie_downs))
        self.lie_down_scenes_alarmed += int(bool(seq.lie_downs) and bool(alarms))
        free = sorted(alarms)
        for start, impact in sorted(seq.falls, key=lambda f: f[1]):
            self.falls += 1
            hit = next((a for a in free if start <= a <= impact + MATCH_AFTER_S), None)
            if hit is not None:
                free.remove(hit)
                self.found += 1
                self.delays.append(hit - impact)
        self.alarms += len(alarms)
        self.false_alarms += len(free)
        if not seq.falls:
            self.everyday_false_alarms += len(free)


def onnx_scorer(path: Path) -> Callable[[FloatArray], FloatArray]:
    """Batch scorer running an exported model in onnxruntime (one thread, as on a gateway)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def score(x: FloatArray) -> FloatArray:
        (out,) = session.run([OUTPUT], {INPUT: np.asarray(x, np.float32)})
        return np.asarray(out, np.float32).reshape(-1)

    return score
