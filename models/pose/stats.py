"""Per-clip and per-activity statistics of MoveNet keypoints (score, visibility, jitter)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.pose.clips import Clip
from models.pose.movenet import HIPS, SHOULDERS, TORSO
from models.pose.tracking import MIN_SEEN, VISIBLE

AFTER_FALL_S = 1.0  # a fall takes about a second: from then on the person is down
Track = npt.NDArray[np.float32]  # (T, 17, 3): x, y in frame pixels, score


@dataclass
class Tally:
    """Sums over the frames of one group (a clip or an activity)."""

    frames: int = 0
    torso_score: float = 0.0
    visible: int = 0
    jitter: list[float] = field(default_factory=list)  # per still frame, normalised by torso length
    jitter_px: list[float] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        """Means: torso score, fraction of frames with >= MIN_SEEN keypoints seen, median jitter."""
        n = max(self.frames, 1)
        out = {"frames": float(self.frames), "torso_score": self.torso_score / n, "visible": self.visible / n}
        out["jitter"] = float(np.median(self.jitter)) if self.jitter else float("nan")
        out["jitter_px"] = float(np.median(self.jitter_px)) if self.jitter_px else float("nan")
        out["jitter_pairs"] = float(len(self.jitter))
        return out


def torso_length(kpts: npt.NDArray[np.float32]) -> float:
    """Distance from the shoulders' midpoint to the hips' midpoint, in pixels."""
    return float(np.hypot(*(kpts[list(SHOULDERS), :2].mean(0) - kpts[list(HIPS), :2].mean(0))))


def jitter(prev: npt.NDArray[np.float32], cur: npt.NDArray[np.float32]) -> tuple[float, float] | None:
    """Mean frame-to-frame move of the four torso keypoints (px, and / torso length), if all are seen."""
    torso = list(TORSO)
    if (prev[torso, 2] < VISIBLE).any() or (cur[torso, 2] < VISIBLE).any():
        return None
    px = float(np.hypot(*(cur[torso, :2] - prev[torso, :2]).T).mean())
    length = (torso_length(prev) + torso_length(cur)) / 2
    return (px, px / length) if length > 1 else None


def groups(clip: Clip, t: float) -> list[str]:
    """The activity groups a frame at ``t`` counts in (a frame can be in several, or in none)."""
    labels = clip.labels_at(t)
    start = clip.fall_start()
    if start is not None and t >= start + AFTER_FALL_S:
        labels.append("after fall")
    return labels or ["(unlabelled)"]


def still(clip: Clip, t: float) -> bool:
    """Annotated as standing (not walking) at ``t``: keypoint motion there is mostly noise."""
    labels = clip.labels_at(t)
    return "Standing" in labels and "Walking" not in labels


def tally(clip: Clip, track: Track, fps: float, into: dict[str, Tally]) -> Tally:
    """Add a clip's frames to the per-activity tallies ``into``; the clip's own tally."""
    whole = Tally()
    for i, kpts in enumerate(track):
        labels = groups(clip, i / fps)
        move = (
            jitter(track[i - 1], kpts)
            if i > 0 and still(clip, i / fps) and still(clip, (i - 1) / fps)
            else None
        )
        for t in [whole, *(into.setdefault(label, Tally()) for label in labels)]:
            t.frames += 1
            t.torso_score += float(kpts[list(TORSO), 2].mean())
            t.visible += int((kpts[:, 2] >= VISIBLE).sum() >= MIN_SEEN)
            if move is not None:
                t.jitter_px.append(move[0])
                t.jitter.append(move[1])
    return whole
