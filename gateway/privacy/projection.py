"""Projection of one event for one actor: the allow-list applied field by field.

Pure functions. What is not named by the grant is dropped (and reported so it can be counted);
times (the event's and timestamps in its data) are rounded down, numbers rounded, locations coarsened, long strings refused. Only JSON
scalars, lists and objects of them can pass: bytes, arrays and images have no way through.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway.config import GatewayConfig
from gateway.messages import SCHEMA_VERSION, Event, JsonValue, dump_json, utc_iso
from gateway.privacy.policy import Grant

MAX_STRING = 256  # longer strings are not derived data; nothing an actor needs is that long
MAX_STEPS = 1e15  # a rounded number this many steps from zero is no longer a measurement
METRES_PER_DEGREE = 111_320.0
# A UTC timestamp inside event data (time_of_fall, period_start): no finer than the grant's time.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


class NotJson(TypeError):
    """A value that is not plain JSON reached the door: a bug in a detector."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a source is: its zone (an area name) and coordinates, as configured."""

    zone: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Projection:
    """An actor's view of an event, and the names of the fields it did not get."""

    body: dict[str, Any]
    dropped: tuple[str, ...]


def actor_id(actor: str, *parts: str) -> str:
    """A stable id per actor: the same event always gets it, but actors cannot correlate ids,
    and it does not encode the event's exact time as a ULID would."""
    return hashlib.sha256(":".join((actor, *parts)).encode()).hexdigest()[:32]


def iso(t: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second (finer times are not derived data)."""
    return utc_iso(t, "seconds")


def round_time(t: datetime, step_s: float) -> datetime:
    """`t` rounded down to a multiple of `step_s` since the epoch."""
    return datetime.fromtimestamp(math.floor(t.timestamp() / step_s) * step_s, UTC)


def round_step(value: float, step: float) -> float:
    """`value` rounded to the nearest multiple of `step`, shown with the step's own decimals."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    quotient = value / step
    if not math.isfinite(quotient) or abs(quotient) > MAX_STEPS:
        raise OverflowError(f"{value!r} is too large to round to steps of {step!r}")
    return round(round(quotient) * step, decimals)


def check_json(value: object) -> JsonValue:
    """`value` itself if it is plain JSON; NotJson otherwise (bytes, arrays, objects)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJson(f"non-finite number {value!r}")
        return value
    if isinstance(value, list):
        return [check_json(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: check_json(v) for k, v in value.items()}
    raise NotJson(f"{type(value).__name__} is not plain JSON and cannot leave the gateway")


def _too_long(value: JsonValue) -> bool:
    if isinstance(value, str):
        return len(value) > MAX_STRING
    if isinstance(value, list):
        return any(_too_long(v) for v in value)
    if isinstance(value, dict):
        return any(len(k) > MAX_STRING or _too_long(v) for k, v in value.items())
    return False


def dump_id(value: JsonValue) -> str:
    """A non-string reference as canonical JSON text, to be hashed like a string id."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def project_data(
    data: Mapping[str, JsonValue], grant: Grant, actor: str = ""
) -> tuple[dict[str, JsonValue], list[str]]:
    """The granted fields of `data`, rounded; and the names dropped.

    A field named ``*_id`` refers to another event or episode (``fall_id`` is the id of the
    fall.detected it belongs to): it becomes that actor's id for it, exactly as the envelope's
    ``id`` is made, so an actor can link the messages of one episode but not join them with
    another actor's, and the raw id (a ULID, which encodes its time) never leaves.
    """
    out: dict[str, JsonValue] = {}
    dropped = []
    for name, raw in data.items():
        value = check_json(raw)
        if name not in grant.fields or _too_long(value):
            dropped.append(name)
            continue
        step = grant.round.get(name)
        if name.endswith("_id") and value is not None:
            value = actor_id(actor, value if isinstance(value, str) else dump_id(value))
        elif isinstance(value, str) and TIMESTAMP.fullmatch(value):
            try:
                value = iso(round_time(datetime.fromisoformat(value), grant.time_round_s))
            except ValueError:  # shaped like a time but not one (month 13): not derived data
                dropped.append(name)
                continue
        elif step is not None and isinstance(value, int | float) and not isinstance(value, bool):
            try:
                value = round_step(float(value), step)
            except OverflowError:
                dropped.append(name)
                continue
        out[name] = value
    return out, dropped


def project_location(where: Location, grant: Grant) -> dict[str, JsonValue] | None:
    """The location at the grant's resolution, or None."""
    if grant.location == "zone":
        return None if where.zone is None else {"zone": where.zone}
    if grant.location == "none" or where.lat is None or where.lon is None:
        return None
    if grant.location == "exact":
        return {"zone": where.zone, "lat": round(where.lat, 6), "lon": round(where.lon, 6)}
    lat_step = grant.grid_m / METRES_PER_DEGREE
    lat = (math.floor(where.lat / lat_step) + 0.5) * lat_step
    # The longitude step follows the cell's latitude, never the true one: that would leak it.
    lon_step = grant.grid_m / (METRES_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    lon = (math.floor(where.lon / lon_step) + 0.5) * lon_step
    return {"lat": round(lat, 6), "lon": round(lon, 6), "grid_m": grant.grid_m}


def project(
    event: Event, actor: str, grant: Grant, envelope: Mapping[str, JsonValue], where: Location
) -> Projection:
    """`event` as `actor` may see it under `grant`; `envelope` holds site and gateway."""
    data, dropped = project_data(event.data, grant, actor)
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": actor_id(actor, event.id),
        "type": event.type,
        "actor": actor,
        "time": iso(round_time(event.time, grant.time_round_s)),
        "historical": False,
        "data": data,
    }
    optional: dict[str, JsonValue] = {
        "site": envelope["site"],
        "gateway": envelope["gateway"],
        "source": event.source,
        "quality": list[JsonValue](sorted(event.quality)),
        "model": None if event.model is None else {"name": event.model.name, "version": event.model.version},
    }
    for name, value in optional.items():
        if name in grant.include and value is not None:
            body[name] = value
    location = project_location(where, grant)
    if location is not None:
        body["location"] = location
    return Projection(body, tuple(dropped))


_LIVE, _LATE = b'"historical":false', b'"historical":true'


def mark_historical(payload: bytes) -> bytes | None:
    """A projection's payload marked as a late delivery (`historical: true`); None for a payload
    without the flag (not an event). A drained backlog marks thousands a second, so it is done
    without parsing where the layout allows: `project` (and the aggregator) write compact JSON with
    `historical` before any nested value, so if no `{` or `[` but the opening one precedes the first
    match it is at depth 1 (a quote inside a string is escaped: no match there). Else it parses."""
    at = payload.find(_LIVE)
    if at > 0 and payload[0:1] == b"{" and b"{" not in payload[1:at] and b"[" not in payload[1:at]:
        return payload[:at] + _LATE + payload[at + len(_LIVE) :]
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or "historical" not in body:
        return None
    return dump_json({**body, "historical": True})


def locations(config: GatewayConfig) -> dict[str, Location]:
    """Each source's configured location ("" is the gateway's own)."""
    here = config.location
    out = {"": Location(here.zone, here.lat, here.lon)}
    for sensor in config.sensors:
        where = sensor.location or here
        out[sensor.id] = Location(where.zone, where.lat, where.lon)
    return out
