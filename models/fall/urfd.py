"""The UR Fall Detection per-frame features (evaluation only), mapped to the gateway's silhouettes.

``../shared/datasets/fall/urfd/urfall-cam0-{falls,adls}.csv`` (Kwolek & Kepski 2014; see
shared/datasets/SOURCES.md) hold features the dataset authors computed from Kinect depth maps of
camera 0, at 30 fps. They are never used to train, tune or pick a threshold: the model and every
setting are fixed before these files are read. Mapping to ``gateway.vision.silhouette``:

| ours              | UR Fall                          | caveat                                                   |
|-------------------|----------------------------------|----------------------------------------------------------|
| height_width      | HeightWidthRatio                 | depth blob (no shadows) vs. RGB motion mask              |
| major_minor       | MajorMinorRatio                  | same definition (moment ellipse)                         |
| occupancy         | BoundingBoxOccupancy             | depth segmentation is cleaner: occupancy runs higher     |
| height_ratio      | HHmaxRatio                       | theirs is metric 3-D height over the person's maximum;   |
|                   |                                  | ours is image height over the recent upright height      |
| centroid_height   | D / (H / HHmaxRatio)             | theirs: metric distance of the centre to the fitted      |
|                   |                                  | floor; ours: image distance to the feet when last upright|
| vertical_speed    | from the mapped centroid_height  | same computation (FeatureHistory) on both                |

MaxStdXZ and P40 have no counterpart in a single RGB view and are not used. The camera is level at
about 1 m for cam0; simulator cameras hang higher and look down, so shapes differ (see the card).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO_ROOT = Path(__file__).resolve().parents[2]
URFD_DIR = REPO_ROOT.parent / "shared" / "datasets" / "fall" / "urfd"
FALLS_CSV = URFD_DIR / "urfall-cam0-falls.csv"
ADLS_CSV = URFD_DIR / "urfall-cam0-adls.csv"
CLIP = URFD_DIR / "fall-01-cam0.mp4"
FPS = 30.0  # Kinect frame rate of the dataset

NOT_LYING, TRANSITION, LYING = -1, 0, 1


@dataclass(frozen=True, slots=True)
class UrSequence:
    """One UR Fall sequence: frame numbers, labels, and mapped silhouette rows (N x 5)."""

    name: str
    frames: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    rows: npt.NDArray[np.float32]

    @property
    def is_fall(self) -> bool:
        """A fall-XX sequence."""
        return self.name.startswith("fall-")

    @property
    def lies_down(self) -> bool:
        """An ADL in which the person lies down on purpose (labels 0/1 present): a hard negative."""
        return not self.is_fall and bool(np.any(self.labels >= TRANSITION))

    @property
    def times(self) -> npt.NDArray[np.float64]:
        """Seconds from frame 1."""
        return (self.frames - 1).astype(np.float64) / FPS

    def first_time(self, label: int) -> float | None:
        """Time of the first frame with ``label``, if any."""
        hits = np.flatnonzero(self.labels == label)
        return float(self.times[hits[0]]) if hits.size else None


def load(path: Path) -> list[UrSequence]:
    """The sequences of one CSV file, in file order."""
    grouped: dict[str, list[list[str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if row:
                grouped.setdefault(row[0], []).append(row)
    return [_sequence(name, rows) for name, rows in grouped.items()]


def _sequence(name: str, rows: list[list[str]]) -> UrSequence:
    rows = sorted(rows, key=lambda r: int(r[1]))
    frames = np.array([int(r[1]) for r in rows], np.int64)
    labels = np.array([int(r[2]) for r in rows], np.int64)
    values = np.array([[float(v) for v in r[3:11]] for r in rows], np.float64)
    hw, mm, occupancy, _max_std, hh_ratio, height_mm, centre_mm = values[:, :7].T
    standing_mm = float(np.median(height_mm / np.maximum(hh_ratio, 1e-6)))  # Hmax: fixed per person
    mapped = np.stack([hw, mm, occupancy, hh_ratio, centre_mm / standing_mm], axis=1)
    return UrSequence(name, frames, labels, mapped.astype(np.float32))


def load_all() -> tuple[list[UrSequence], list[UrSequence]]:
    """(falls, ADLs) of camera 0."""
    return load(FALLS_CSV), load(ADLS_CSV)
