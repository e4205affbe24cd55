"""A measured noise model of a real pose estimator (MoveNet Lightning, crop-tracked), for sim joints.

``measure()`` reads MoveNet's keypoints of the GMDCSA24 development clips
(``models/pose/cache/gmdcsa24_keypoints.npz``, written by models/pose/keypoints.py; copy it from the
main tree, it is git-ignored) with the clips' activity labels and returns, per clip, the still-standing
jitter (per keypoint and frame, in torso lengths), the fraction of the 9 body keypoints scored >= 0.3
and the fraction of frames without a confident pose, upright (before the fall) and fallen (1 s after
the fall started). The UR Fall fall-01 clip adds the known failure: after impact MoveNet lost the
person in 44 of 48 frames. ``NoiseModel.apply`` draws one sequence's parameters within the measured
ranges and turns ground-truth joints into the poses a gateway would see.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.vision.pose_features import BODY, HIPS, SHOULDERS, BlobBox, Pose

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "models" / "pose" / "cache" / "gmdcsa24_keypoints.npz"
GMDCSA24 = REPO.parent / "shared" / "datasets" / "fall" / "gmdcsa24"
MODE = "crop"  # the gateway runs MoveNet on crops around tracked people
AFTER_FALL_S = 1.0
URFD_LOST_AFTER_IMPACT = 44 / 48  # fall-01-cam0: frames after impact without 5 keypoints >= 0.3
RAYLEIGH = math.sqrt(math.pi)  # mean |d| of a 2-D frame-to-frame difference = sqrt(pi) * sigma
_SPAN = re.compile(r"([A-Za-z][A-Za-z ()]*?)\s*\[([^\]]*)\]")


def spans(cell: str) -> list[tuple[str, float, float]]:
    """(activity, start s, end s) of a GMDCSA24 "Classes" cell."""
    out = []
    for label, inside in _SPAN.findall(cell):
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", inside)]
        for a, b in zip(numbers[::2], numbers[1::2], strict=False):
            out.append((label.split("(")[0].strip(), min(a, b), max(a, b)))
    return out


def labelled_clips(root: Path = GMDCSA24) -> dict[str, list[tuple[str, float, float]]]:
    """Clip name ("subject4/Fall/01") -> its activity spans."""
    out = {}
    for table in sorted(root.glob("subject*/*.csv")):
        with table.open(newline="") as handle:
            rows = list(csv.reader(handle))
        header = [h.strip() for h in rows[0]]
        name, classes = header.index("File Name"), header.index("Classes")
        for row in rows[1:]:
            if row:
                clip = f"{table.parent.name}/{table.stem}/{Path(row[name].strip()).stem}"
                out[clip] = spans(",".join(row[classes:]))
    return out


def fall_start(clip_spans: list[tuple[str, float, float]]) -> float | None:
    """When the clip's first Falling span starts (None for an everyday clip)."""
    starts = [a for label, a, _ in clip_spans if label == "Falling"]
    return min(starts) if starts else None


def _confident(k: npt.NDArray[np.float32]) -> bool:
    ok = k[:, 2] >= 0.3
    return bool(ok[list(SHOULDERS)].any() and ok[list(HIPS)].any() and ok[list(BODY)].sum() >= 4)


def measure(cache: Path = CACHE) -> dict[str, dict[str, float]]:
    """Per GMDCSA24 clip: jitter, keypoint visibility and pose-lost rates, upright and fallen."""
    data = np.load(cache)
    labels = labelled_clips()
    out = {}
    for clip, clip_spans in labels.items():
        if f"{clip}/{MODE}" not in data.files:
            continue
        track, fps = data[f"{clip}/{MODE}"], float(data[f"{clip}/fps"])
        start = fall_start(clip_spans)
        still = [
            any(lab == "Standing" for lab, a, b in clip_spans if a <= i / fps <= b)
            and not any(lab == "Walking" for lab, a, b in clip_spans if a <= i / fps <= b)
            for i in range(len(track))
        ]
        moves = []
        for i in range(1, len(track)):
            torso = [*SHOULDERS, *HIPS]
            if still[i] and still[i - 1] and (track[i - 1 : i + 1, torso, 2] >= 0.3).all():
                length = float(
                    np.hypot(*(track[i, list(SHOULDERS), :2].mean(0) - track[i, list(HIPS), :2].mean(0)))
                )
                move = float(np.hypot(*(track[i, torso, :2] - track[i - 1, torso, :2]).T).mean())
                moves.append(move / max(length, 1.0))
        up = [i for i in range(len(track)) if start is None or i / fps < start]
        down = [i for i in range(len(track)) if start is not None and i / fps >= start + AFTER_FALL_S]
        row = {"jitter_sigma": float(np.median(moves)) / RAYLEIGH if moves else math.nan}
        for name, frames in (("upright", up), ("fallen", down)):
            seen = [float(np.mean(track[i, list(BODY), 2] >= 0.3)) for i in frames]
            row[f"seen_{name}"] = float(np.mean(seen)) if seen else math.nan
            row[f"lost_{name}"] = (
                float(np.mean([not _confident(track[i]) for i in frames])) if frames else math.nan
            )
        out[clip] = row
    return out


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """Ranges of the per-sequence noise parameters (min, max), from ``measure``."""

    jitter: tuple[float, float]  # keypoint sigma, torso lengths
    seen_upright: tuple[float, float]  # P(a visible body keypoint scores >= 0.3), confident frames
    lost_upright: tuple[float, float]  # P(no confident pose), upright frames
    lost_fallen: tuple[float, float]  # P(no confident pose), lying frames
    missed_frame: float = 0.05  # analyses skipped by a busy gateway or a dropped camera frame
    repeat_frame: float = 0.1  # a dataset repeating the previous frame (MD4FD: 5-14 %)
    no_blob_sequences: float = 0.5  # sequences without motion blobs (MD4FD has none)
    blob_dropout: float = 0.1

    @classmethod
    def from_measurements(cls, rows: dict[str, dict[str, float]]) -> NoiseModel:
        """Ranges spanning the clips' measurements (and the UR Fall lying failure)."""

        def span(
            key: str, extra: tuple[float, ...] = (), q: tuple[float, float] = (0, 100)
        ) -> tuple[float, float]:
            values = [r[key] for r in rows.values() if not math.isnan(r[key])] + list(extra)
            low, high = np.percentile(values, q)
            return (round(float(low), 4), round(float(high), 4))

        # Upright: the middle of the clips (one dark clip, subject4/Fall/03, loses the person 86 % of
        # the time while walking; a gateway camera that dark is out of scope). Fallen: the full range
        # and the known UR Fall failure, so the model never relies on a clean lying pose.
        return cls(
            jitter=span("jitter_sigma"),
            seen_upright=span("seen_upright", q=(25, 100)),
            lost_upright=span("lost_upright", q=(0, 75)),
            lost_fallen=span("lost_fallen", (URFD_LOST_AFTER_IMPACT,)),
        )

    def apply(
        self,
        xy: npt.NDArray[np.float32],
        seen: npt.NDArray[np.bool_],
        lying: npt.NDArray[np.float32],
        blobs: list[BlobBox | None],
        rng: np.random.Generator,
    ) -> list[tuple[int, Pose | None, BlobBox | None]]:
        """Per kept frame: (frame index, noisy pose or None, noisy blob or None)."""
        u = rng.uniform
        jitter, p_seen = u(*self.jitter) * u(0.8, 1.5), u(*self.seen_upright)
        lost_up, lost_down = u(*self.lost_upright), u(*self.lost_fallen)
        with_blobs = u() >= self.no_blob_sequences
        repeats = self.repeat_frame if u() < 0.5 else 0.0
        out: list[tuple[int, Pose | None, BlobBox | None]] = []
        for i in range(len(xy)):
            if u() < self.missed_frame:
                continue
            if out and u() < repeats:
                out.append((i, out[-1][1], out[-1][2]))
                continue
            blob = blobs[i] if with_blobs and u() >= self.blob_dropout else None
            if blob is not None:
                s = u(0.93, 1.07, 2)
                blob = BlobBox(blob.x, blob.y + blob.h * (1 - s[1]), blob.w * s[0], blob.h * s[1])
            out.append(
                (
                    i,
                    self._pose(xy[i], seen[i], float(lying[i]), jitter, p_seen, (lost_up, lost_down), rng),
                    blob,
                )
            )
        return out

    @staticmethod
    def _pose(  # noqa: PLR0913, PLR0917 - one frame's inputs and the sequence's drawn parameters
        xy: npt.NDArray[np.float32],
        seen: npt.NDArray[np.bool_],
        lying: float,
        jitter: float,
        p_seen: float,
        lost: tuple[float, float],
        rng: np.random.Generator,
    ) -> Pose | None:
        if not seen.any():
            return None
        torso = float(np.hypot(*(xy[list(SHOULDERS)].mean(0) - xy[list(HIPS)].mean(0))))
        scale = max(torso, 4.0)
        flat = min(max((lying - 0.4) / 0.4, 0.0), 1.0)  # 0 below ~36 deg of tilt, 1 from ~72 deg
        noisy = xy + rng.normal(0.0, jitter * scale, xy.shape)
        if rng.uniform() < lost[0] + (lost[1] - lost[0]) * flat:
            if rng.uniform() < 0.3:
                return None  # nothing came back at all
            wander = noisy + rng.normal(0.0, 0.5 * scale, xy.shape)  # heatmap peaks on clutter
            return Pose(wander.astype(np.float32), rng.uniform(0.0, 0.32, 17).astype(np.float32))
        keep = seen & (rng.uniform(size=17) < p_seen)
        score = np.where(keep, rng.uniform(0.35, 0.9, 17), rng.uniform(0.0, 0.3, 17))
        noisy = np.where(seen[:, None], noisy, noisy + rng.normal(0.0, scale, xy.shape))
        return Pose(noisy.astype(np.float32), score.astype(np.float32))


def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def summary(rows: dict[str, dict[str, float]]) -> str:
    """A Markdown table of the measurements (for the model card)."""
    lines = [
        "| clip | jitter sigma / torso | body kp >= 0.3 upright | lost upright | lost fallen |",
        "|---|--:|--:|--:|--:|",
    ]
    for clip, r in rows.items():
        cells = [
            f"{r['jitter_sigma']:.4f}",
            *(_cell(r[k]) for k in ("seen_upright", "lost_upright", "lost_fallen")),
        ]
        lines.append(f"| {clip} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
