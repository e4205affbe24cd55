"""What the page shows of each camera and sensor, taken from inside the running pipelines.

`CameraView` joins a camera's pipeline as its last frame detector (it never emits an event), so it
sees exactly the analysis frames the detectors saw, privacy masks already black, right after the
fall detector has placed this frame's people. It keeps only the newest frame; the HTTP threads wait
on it for a newer one. `sensor_rows` reads the sensors' newest values and counters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.config import CameraConfig, GatewayConfig
from gateway.messages import UNITS, Event, Frame, Reading, SourceHealth, utc_now
from gateway.rollout.pair import FallPair
from gateway.vision.fall import FallDetector
from gateway.vision.pipeline import CameraPipeline
from gateway.vision.regions import Regions
from gateway.vision.tamper import TamperDetector

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame


class SensorFeed(Protocol):
    """What the page reads of the sensors (gateway.sensors.SensorPipeline)."""

    @property
    def latest(self) -> Mapping[str, Mapping[str, Reading]]:
        """Source -> value key -> the newest reading that carried it."""
        ...

    def health(self) -> list[SourceHealth]:
        """Each source's counters."""
        ...


@dataclass(frozen=True, slots=True)
class Person:
    """One tracked person in one frame, as the fall detector saw them."""

    track: int
    box: Box
    probability: float | None  # the fall model's, once the track has enough history
    posed: bool  # a pose was estimated on this frame


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The newest analysis frame of a camera and what the detectors made of it."""

    frame: Frame
    people: tuple[Person, ...]
    tamper: tuple[str, ...]


def _people(fall: FallDetector | FallPair | None, width: int, height: int) -> tuple[Person, ...]:
    if fall is None:
        return ()
    out = []
    for seen in fall.observations:
        b = seen.box
        box = (b.x / width, b.y / height, (b.x + b.w) / width, b.bottom / height)
        clipped = (max(0.0, box[0]), max(0.0, box[1]), min(1.0, box[2]), min(1.0, box[3]))
        out.append(Person(seen.track, clipped, seen.probability, seen.pose is not None))
    return tuple(out)


class CameraView:
    """One camera as the page sees it; a FrameDetector of the camera's pipeline that emits nothing."""

    def __init__(self, pipeline: CameraPipeline, config: CameraConfig) -> None:
        self.config = config
        self.regions = Regions([(z.name, z.polygon) for z in config.zones], config.masks)
        self.source = pipeline.source
        # With a rollout, the camera's fall detector sits in a FallPair: the page shows the active one.
        self._fall = next((d for d in pipeline.detectors if isinstance(d, FallDetector | FallPair)), None)
        self._tamper = next((d for d in pipeline.detectors if isinstance(d, TamperDetector)), None)
        self._latest: Snapshot | None = None
        self._newer = threading.Condition()
        pipeline.detectors.append(self)  # last: the other detectors have seen this frame

    def on_frame(self, frame: Frame) -> list[Event]:
        """Keep the frame and this frame's people (in the camera's analysis thread)."""
        height, width = frame.image.shape[:2]
        tamper = tuple(self._tamper.active()) if self._tamper is not None else ()
        snapshot = Snapshot(frame, _people(self._fall, width, height), tamper)
        with self._newer:
            self._latest = snapshot
            self._newer.notify_all()
        return []

    def latest(self) -> Snapshot | None:
        """The newest snapshot, if a frame came yet."""
        return self._latest

    def wait_newer(self, than: int | None, timeout: float) -> Snapshot | None:
        """The newest snapshot once it is not frame `than` (waits at most `timeout`)."""
        with self._newer:
            self._newer.wait_for(lambda: self._fresh(than), timeout)
            return self._latest

    def _fresh(self, than: int | None) -> bool:
        latest = self._latest
        return latest is not None and (than is None or latest.frame.index != than)

    def row(self, now: datetime) -> dict[str, Any]:
        """The camera's part of the page's state."""
        counters, snapshot = self.source.counters(), self._latest
        row: dict[str, Any] = {
            "id": self.config.id,
            "online": counters.online,
            "frames_read": counters.frames_read,
            "frames_analysed": counters.frames_analysed,
            "reconnects": counters.reconnects,
            "last_frame_age_s": _rounded(counters.last_frame_age_s(now)),
            "zones": [{"name": z.name, "polygon": z.polygon} for z in self.config.zones],
            "masks": self.config.masks,
            "frame": None,
            "people": [],
            "tamper": [],
        }
        if snapshot is not None:
            height, width = snapshot.frame.image.shape[:2]
            row["frame"] = {"index": snapshot.frame.index, "width": width, "height": height}
            row["people"] = [
                {
                    "track": p.track,
                    "box": [round(v, 4) for v in p.box],
                    "probability": _rounded(p.probability, 3),
                    "posed": p.posed,
                }
                for p in snapshot.people
            ]
            row["tamper"] = list(snapshot.tamper)
        return row


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def sensor_rows(config: GatewayConfig, sensors: SensorFeed, now: datetime) -> list[dict[str, Any]]:
    """Each sensor's newest values (with units and age) and its transport's counters."""
    health = {h.source: h for h in sensors.health()}
    rows = []
    for sensor in config.sensors:
        latest = dict(sensors.latest.get(sensor.id, {}))
        values = {
            key: {
                "value": round(reading.values[key], 2),
                "unit": UNITS.get(key, ""),
                "age_s": _rounded((now - reading.time).total_seconds()),
                "flags": sorted(reading.flags),
            }
            for key, reading in sorted(latest.items())
        }
        h = health.get(sensor.id)
        rows.append(
            {
                "id": sensor.id,
                "type": sensor.type,
                "online": bool(h and h.online),
                "values": values,
                "frames_ok": h.frames_ok if h else 0,
                "bad_frames": h.bad_frames if h else 0,
                "timeouts": h.timeouts if h else 0,
                "reconnects": h.reconnects if h else 0,
                "last_reading_age_s": (
                    _rounded((now - h.last_reading).total_seconds()) if h and h.last_reading else None
                ),
            }
        )
    return rows


def state(config: GatewayConfig, cameras: list[CameraView], sensors: SensorFeed) -> dict[str, Any]:
    """Everything the page shows but the pictures, as JSON."""
    now = utc_now()
    return {
        "site": config.site,
        "gateway": config.gateway,
        "cameras": [view.row(now) for view in cameras],
        "sensors": sensor_rows(config, sensors, now),
    }
