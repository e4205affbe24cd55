"""Typed, frozen messages passed between the stages of the data path.

source -> Reading -> detector -> Event -> privacy door -> Publication -> outbox -> MQTT.
Each stage imports only the types of the stage before it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from ulid import ULID

SCHEMA_VERSION = 1

# Units of the value keys a source may report; detectors rely on these names.
UNITS: Mapping[str, str] = MappingProxyType(
    {
        "pm1": "ug/m3",
        "pm25": "ug/m3",
        "pm10": "ug/m3",
        "co2": "ppm",
        "temperature": "degC",
        "humidity": "%RH",
        "distance_mm": "mm",  # range from a water-level sensor to the surface below it
        "depth_mm": "mm",  # water depth above the dry reference
        "pressure": "hPa",
        "rain_mm": "mm",  # rain in the node's reporting interval
        "rain_rate_mm_h": "mm/h",
    }
)

JsonScalar = str | int | float | bool | None
JsonValue = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]


def utc_now() -> datetime:
    """The current time, always timezone-aware UTC."""
    return datetime.now(UTC)


def utc_iso(moment: datetime, timespec: Literal["seconds", "milliseconds"] = "milliseconds") -> str:
    """`moment` as ISO 8601 in UTC with a "Z" suffix, e.g. 2026-01-31T12:00:00.000Z (payload format)."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Reading:
    """One valid measurement from one source, as decoded from one verified frame."""

    source: str
    time: datetime
    values: Mapping[str, float]
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera frame for analysis: downscaled, privacy masks already blacked out.

    Frames stay inside their camera's pipeline: no stage after a detector accepts one, and the
    privacy door has no way to turn one into a Publication.
    """

    source: str
    time: datetime
    image: npt.NDArray[np.uint8]  # H x W x 3, BGR
    index: int  # frame number since the stream (re)opened


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A change in a source's availability or health, reported by its transport."""

    source: str
    time: datetime
    online: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The model that decided an event."""

    name: str
    version: str


def new_event_id() -> str:
    """A unique, lexicographically sortable id (ULID)."""
    return str(ULID())


@dataclass(frozen=True, slots=True)
class Event:
    """A derived event: what a detector concluded, never raw data."""

    type: str
    source: str
    data: Mapping[str, JsonValue]
    time: datetime = field(default_factory=utc_now)
    quality: frozenset[str] = frozenset()
    model: ModelRef | None = None
    id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Event.time must be timezone-aware")


MAX_PAYLOAD = 16 * 1024  # derived events are small; anything bigger is not an event


@dataclass(frozen=True, slots=True)
class Publication:
    """One outbound MQTT message. Only the privacy door constructs these."""

    event_id: str
    topic: str
    payload: bytes
    retain: bool = False
    actor: str = ""  # whose projection this is ("" for the gateway's own status)
    event_type: str = ""  # what it carries, for the audit log ("" for retained status)

    def __post_init__(self) -> None:
        if not isinstance(self.payload, bytes) or len(self.payload) > MAX_PAYLOAD:
            raise ValueError(
                f"a publication payload must be bytes of at most {MAX_PAYLOAD} (topic {self.topic})"
            )
        self.payload.decode("utf-8")  # text only: binary content cannot be published


def event_to_json(event: Event, site: str, gateway: str, historical: bool = False) -> dict[str, Any]:
    """The versioned JSON payload of an event (see publish/schemas/event-v1.json)."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": event.id,
        "type": event.type,
        "time": utc_iso(event.time),
        "site": site,
        "gateway": gateway,
        "source": event.source,
        "data": dict(event.data),
        "quality": sorted(event.quality),
        "historical": historical,
    }
    if event.model is not None:
        out["model"] = {"name": event.model.name, "version": event.model.version}
    return out


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """Counters a source's transport keeps, published as the source's retained status."""

    source: str
    online: bool
    frames_ok: int
    bad_frames: int
    timeouts: int
    reconnects: int
    last_reading: datetime | None

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The retained per-source status payload."""
        # A frame stamped just after `now` was taken is not from the future: clamp, never negative.
        age = (
            None
            if self.last_reading is None
            else max(0.0, round((now - self.last_reading).total_seconds(), 1))
        )
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "state": "online" if self.online else "offline",
            "frames_ok": self.frames_ok,
            "bad_frames": self.bad_frames,
            "timeouts": self.timeouts,
            "reconnects": self.reconnects,
            "last_reading_age_s": age,
            "time": utc_iso(now),
        }


def dump_json(obj: object) -> bytes:
    """Compact UTF-8 JSON; NaN is refused so payloads stay standard JSON."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
