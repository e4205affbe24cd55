"""What `watch` shows: the gateway's status, each source's health, the events as each actor gets them.

Everything received is shown as text, never as rich markup (a status of `online` in brackets or a
`[` in an event's data stays as it is); a missing value is "-", never "None". A reading's age is
counted on from the time of the status message, so it keeps growing while a source is silent.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gateway.topics import Topics

AVAILABILITY = ("online", "offline")


def ago(seconds: float) -> str:
    """A short age: "4 s ago", "2 min 5 s ago", "3 h 10 min ago"."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s ago"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s ago"
    return f"{whole // 3600} h {whole % 3600 // 60} min ago"


def cell(value: object) -> str:
    """A value as table text: "-" for a missing one."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def data_text(data: object) -> str:
    """An event's data as `key=value` pairs ("-" for a null)."""
    if not isinstance(data, dict):
        return cell(data)
    return "  ".join(f"{k}={cell(v)}" for k, v in data.items())


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 UTC time from a payload, or None."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class GatewayView:
    """State rendered by `watch`: gateway status, source health, the latest events and their counts."""

    def __init__(
        self,
        topics: Topics,
        max_events: int = 25,
        about: Callable[[], Sequence[str]] = tuple,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.topics = topics
        self.about = about  # what is being played, for `make run`
        self.clock = clock
        self.since = clock()
        self.since_label = "since watching started"
        self.broker: Callable[[], str] = lambda: ""
        self.status: str | None = None
        self.sources: dict[str, dict[str, Any]] = {}
        self._announced: dict[str, str] = {}  # source -> state from its latest online/offline event
        self._heard: set[str] = set()  # sources with any online/offline event: no longer "starting"
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.counts: Counter[str] = Counter()
        self.bad_messages = 0
        self.lock = threading.Lock()

    def on_message(self, topic: str, payload: bytes) -> None:
        """Fold one received message into the view; malformed payloads are counted, not fatal."""
        with self.lock:
            if topic == self.topics.status:
                self.status = payload.decode(errors="replace")
                return
            try:
                body = json.loads(payload)
            except ValueError:
                self.bad_messages += 1
                return
            if not isinstance(body, dict):
                self.bad_messages += 1
            elif "/sources/" in topic:
                source = str(body.get("source"))
                self.sources[source] = body
                self._announced.pop(source, None)  # the status is newer than any event before it
            elif "/events/" in topic:
                self._event(body)

    def _event(self, body: dict[str, Any]) -> None:
        self.events.appendleft(body)
        kind = str(body.get("type"))
        self.counts[kind] += 1
        state = kind.rpartition(".")[2]
        if state in AVAILABILITY and isinstance(body.get("source"), str):
            self._announced[body["source"]] = state  # newer than the last status message
            self._heard.add(body["source"])

    def render(self) -> Group:
        """The title lines, the sources table, the events table and what has been seen so far."""
        with self.lock:
            now = self.clock()
            parts: list[RenderableType] = [Text(line, style="bold cyan") for line in self.about()]
            parts += [self._title(), self._sources(now), self._events(), self._totals()]
            return Group(*parts)

    def _title(self) -> Text:
        title = Text(self.topics.base, style="bold")
        if self.status is None:
            title.append("   gateway: no status yet", style="dim")
        else:
            title.append("   gateway: ")
            title.append(self.status, style="green" if self.status == "online" else "red")
        broker = self.broker()
        if broker:
            title.append(f"   broker: {broker}", style="green" if broker.startswith("connected") else "red")
        return title

    def _state(self, name: str, health: dict[str, Any]) -> Text:
        state = self._announced.get(name, health.get("state"))
        counters = ("frames_ok", "bad_frames", "timeouts", "reconnects")
        if state == "offline" and name not in self._heard and not any(health.get(c) for c in counters):
            return Text("starting", style="yellow")  # nothing received yet, and no outage reported
        return Text(cell(state), style="green" if state == "online" else "red")

    def _sources(self, now: datetime) -> Table:
        table = Table(expand=True)
        for col in ("source", "state", "frames ok", "bad frames", "timeouts", "reconnects", "last reading"):
            table.add_column(col)
        for name, h in sorted(self.sources.items()):
            age, sent = h.get("last_reading_age_s"), parse_time(h.get("time"))
            if isinstance(age, int | float):
                since_sent = (now - sent).total_seconds() if sent is not None else 0.0
                age_text = ago(age + max(0.0, since_sent))
            else:
                age_text = "-"
            counters = [Text(cell(h.get(c))) for c in ("frames_ok", "bad_frames", "timeouts", "reconnects")]
            table.add_row(Text(name), self._state(name, h), *counters, Text(age_text))
        return table

    def _events(self) -> Table:
        table = Table(title="events per actor (newest first)", expand=True)
        for col in ("time", "actor", "type", "source", "data", "quality"):
            table.add_column(col, overflow="fold")
        for e in self.events:
            when = parse_time(e.get("time"))
            kind = cell(e.get("type")) + (" (replay)" if e.get("historical") else "")
            table.add_row(
                Text(when.strftime("%H:%M:%S") if when is not None else cell(e.get("time"))),
                Text(cell(e.get("actor"))),
                Text(kind),
                Text(cell(e.get("source"))),
                Text(data_text(e.get("data"))),
                Text(cell(e.get("quality"))),
            )
        return table

    def _totals(self) -> Text:
        since = self.since.astimezone().strftime("%H:%M:%S")
        total = sum(self.counts.values())
        text = Text(f"{total} event message{'' if total == 1 else 's'} {self.since_label} ({since})")
        if self.counts:
            text.append(": " + ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items())))
        if self.bad_messages:
            text.append(f"; {self.bad_messages} unreadable", style="red")
        return text
