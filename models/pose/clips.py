"""The GMDCSA24 development clips (subjects 2 and 4) and their annotated activity spans."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[2]
# Development data only: nothing else under ../shared/datasets/fall/ may be read here (evaluation sets).
GMDCSA24 = REPO.parent / "shared" / "datasets" / "fall" / "gmdcsa24"
_CLASS = re.compile(r"([A-Za-z][^\[\];]*?)\s*\[([^\]]*)\]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

Image = npt.NDArray[np.uint8]
Span = tuple[str, float, float]


@dataclass(frozen=True, slots=True)
class Clip:
    """One video and its activity spans (label, start s, end s)."""

    name: str
    path: Path
    spans: tuple[Span, ...]

    def labels_at(self, t: float) -> list[str]:
        """Every activity annotated at time ``t`` (spans overlap: Standing and Exercising, say)."""
        return [label for label, t0, t1 in self.spans if t0 <= t <= t1]

    def fall_start(self) -> float | None:
        """When the first Falling span starts, or None for an everyday clip."""
        starts = [t0 for label, t0, _ in self.spans if label == "Falling"]
        return min(starts) if starts else None


def parse_classes(text: str) -> tuple[Span, ...]:
    """Spans of a Classes cell, e.g. ``Falling (BW)[2.5 to 8]; Standing[0 to 0.5; 4.2 to 6.5]``."""
    spans = []
    for label, inside in _CLASS.findall(text):
        numbers = [float(n) for n in _NUMBER.findall(inside)]
        # "(FW)" etc. say the direction; activities are grouped by their first word (Falling, Standing)
        name = label.split("(")[0].strip()
        for a, b in zip(numbers[::2], numbers[1::2], strict=False):
            spans.append((name, min(a, b), max(a, b)))  # one row has its ends swapped ([9.7 to 3])
    return tuple(sorted(spans, key=lambda s: (s[1], s[0])))


def _annotations(csv_path: Path) -> dict[str, tuple[Span, ...]]:
    with csv_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[0]]
    name_col, classes_col = header.index("File Name"), header.index("Classes")
    return {r[name_col].strip(): parse_classes(",".join(r[classes_col:])) for r in rows[1:] if r}


def clips(root: Path = GMDCSA24) -> list[Clip]:
    """Every clip under ``root`` with its spans, sorted by subject, kind and number."""
    out = []
    for kind_dir in sorted(root.glob("subject*/*/")):
        spans = _annotations(kind_dir.parent / f"{kind_dir.name}.csv")
        for video in sorted(kind_dir.glob("*.mp4")):
            out.append(Clip(f"{kind_dir.parent.name}/{kind_dir.name}/{video.stem}", video, spans[video.name]))
    return out


def read_frames(path: Path) -> tuple[float, Iterator[Image]]:
    """The clip's frame rate and an iterator over its BGR frames."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"cannot open {path}")
    fps = float(capture.get(cv2.CAP_PROP_FPS))

    def frames() -> Iterator[Image]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield np.asarray(frame, dtype=np.uint8)
        finally:
            capture.release()

    return fps, frames()
