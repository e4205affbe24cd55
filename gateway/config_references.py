"""Rules across sources in a config: ids unique over sensors and cameras, `humidity_from` that works.

Shared by the config model (which refuses a file at its first problem) and `check-config` (which
reports every problem at its own line), so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.sources.protocols.registry import PROTOCOLS
from gateway.yamlwords import Loc, did_you_mean


@dataclass(frozen=True, slots=True)
class SensorRef:
    """What the rules need of one sensor."""

    id: str
    type: str
    humidity_from: str | None = None


def humidity_types() -> list[str]:
    """Sensor types whose readings carry relative humidity."""
    return sorted(t for t, p in PROTOCOLS.items() if "humidity" in p.value_keys)


def reference_problems(sensors: Sequence[SensorRef], cameras: Sequence[str]) -> list[tuple[Loc, str]]:
    """Every duplicate id and every `humidity_from` that names no usable humidity sensor."""
    problems: list[tuple[Loc, str]] = []
    first: dict[str, Loc] = {}
    places = [(("sensors", i, "id"), s.id) for i, s in enumerate(sensors)]
    places += [(("cameras", i, "id"), c) for i, c in enumerate(cameras)]
    for loc, source in places:
        if source in first:
            where = first[source]
            problems.append((loc, f"id {source!r} is already used by {where[0]}[{where[1]}]"))
        else:
            first[source] = loc
    by_id = {s.id: s for s in sensors}
    for i, sensor in enumerate(sensors):
        if sensor.humidity_from is not None:
            reason = _humidity_problem(sensor, by_id, cameras)
            if reason:
                problems.append((("sensors", i, "humidity_from"), reason))
    return problems


def summary(problems: list[tuple[Loc, str]]) -> str:
    """The problems as one line (what the config model raises)."""
    return "; ".join(f"{_key(loc)}: {message}" for loc, message in problems)


def _key(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _humidity_problem(sensor: SensorRef, by_id: dict[str, SensorRef], cameras: Sequence[str]) -> str:
    name = sensor.humidity_from
    if name == sensor.id:
        return "a sensor cannot correct itself: name another sensor that measures humidity"
    if name in cameras:
        return f"{name!r} is a camera; humidity comes from a sensor ({', '.join(humidity_types())})"
    source = by_id.get(name or "")
    if source is None:
        hint = did_you_mean(name or "", list(by_id)) or f"; sensors: {', '.join(by_id)}"
        return f"no sensor has the id {name!r}{hint}"
    protocol = PROTOCOLS.get(source.type)
    if protocol is not None and "humidity" not in protocol.value_keys:
        return (
            f"{name!r} is a {source.type}, which measures no humidity; "
            f"types that do: {', '.join(humidity_types())}"
        )
    return ""
