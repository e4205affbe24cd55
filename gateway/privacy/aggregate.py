"""Windows of projected events, published as one summary per actor, type, location and window.

Used where an actor's purpose needs a picture, not individual events (residents: air quality
per area and hour), and for counts that must stay above a minimum before they may be shown.
Windows align to the clock. A window with fewer than `min_count` events is never published.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from gateway.messages import SCHEMA_VERSION, JsonValue
from gateway.privacy.policy import Aggregate, Grant
from gateway.privacy.projection import actor_id, iso, round_step, round_time


@dataclass
class _Window:
    actor: str
    type: str
    grant: Grant
    location: dict[str, JsonValue] | None
    end: float
    data: list[dict[str, JsonValue]] = field(default_factory=list)


class Aggregator:
    """Collects projections per window; `flush(now)` turns ended windows into summary bodies."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self._scale = time_scale
        self._windows: dict[tuple[str, str, str, int], _Window] = {}
        self.suppressed = 0  # windows below min_count

    def window_s(self, aggregate: Aggregate) -> float:
        """The window length in wall seconds (a simulated site runs faster)."""
        return aggregate.window_s / self._scale

    def add(self, actor: str, grant: Grant, body: dict[str, Any], t: float) -> None:
        """Hold one projected body (of a grant with `aggregate`) in its window."""
        assert grant.aggregate is not None
        length = self.window_s(grant.aggregate)
        index = math.floor(t / length)
        location = body.get("location")
        key = (actor, body["type"], json.dumps(location, sort_keys=True), index)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(actor, body["type"], grant, location, (index + 1) * length)
        window.data.append(body["data"])

    def flush(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        """(actor, body) for every window that has ended by `now`."""
        out = []
        for key in [k for k, w in self._windows.items() if w.end <= now]:
            window = self._windows.pop(key)
            assert window.grant.aggregate is not None
            if len(window.data) < window.grant.aggregate.min_count:
                self.suppressed += 1
                continue
            out.append((window.actor, self._summary(key, window)))
        return out

    def _summary(self, key: tuple[str, str, str, int], window: _Window) -> dict[str, Any]:
        assert window.grant.aggregate is not None
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": actor_id(*[str(k) for k in key]),
            "type": window.type,
            "actor": window.actor,
            "time": iso(round_time(datetime.fromtimestamp(window.end, UTC), window.grant.time_round_s)),
            "historical": False,
            "window_s": window.grant.aggregate.window_s,
            "count": len(window.data),
            "data": _combine(window.data, window.grant),
        }
        if window.location is not None:
            body["location"] = window.location
        return body


def _combine(items: list[dict[str, JsonValue]], grant: Grant) -> dict[str, JsonValue]:
    """Numbers: the mean, rounded as granted; anything else: the most frequent value."""
    out: dict[str, JsonValue] = {}
    for name in grant.fields:
        values = [d[name] for d in items if name in d]
        if not values:
            continue
        numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(values):
            mean = fmean(numbers)
            step = grant.round.get(name)
            out[name] = round_step(mean, step) if step else round(mean, 3)
        else:
            out[name] = Counter(json.dumps(v, sort_keys=True) for v in values).most_common(1)[0][0]
            out[name] = json.loads(str(out[name]))
    return out
