"""`watch`'s view as a person reads it: text as received, no "None", ages that keep counting.

Scenario: a gateway has just started. Its retained status `online` must read as such (rich once ate
`[online]` as a style tag); a source that has sent nothing yet is "starting", not "offline"; an
event an actor gets without its `source` shows "-"; a reading stamped 2 s old in a status sent 30 s
ago is 32 s old now; and every event message received since start is counted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rich.console import Console

from gateway.tools.watch_view import GatewayView, ago, data_text
from gateway.topics import Topics

T0 = datetime(2026, 12, 4, 23, 0, 0, tzinfo=UTC)
TOPICS = Topics("city", "site-a", "gw-1")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def shown(view: GatewayView) -> str:
    console = Console(width=240, record=True, color_system=None)
    console.print(view.render())
    return console.export_text()


def status(source: str, state: str, frames: int, age: float | None, sent: datetime) -> bytes:
    body = {
        "schema_version": 1,
        "source": source,
        "state": state,
        "frames_ok": frames,
        "bad_frames": 0,
        "timeouts": 0,
        "reconnects": 0,
        "last_reading_age_s": age,
        "time": sent.isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(body).encode()


def event(kind: str, data: dict[str, object], source: str | None = None, actor: str = "gemeente") -> bytes:
    body: dict[str, object] = {"type": kind, "actor": actor, "time": "2026-12-04T23:00:05Z", "data": data}
    if source is not None:
        body["source"] = source
    return json.dumps(body).encode()


def row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if f" {name} " in line)


def test_the_gateway_status_reads_as_received_and_markup_in_data_stays_text() -> None:
    view = GatewayView(TOPICS, about=lambda: ["playing: [bold]a fall[/] in the hall"])
    assert "gateway: no status yet" in shown(view)
    view.on_message(TOPICS.status, b"online")
    view.on_message(
        TOPICS.actor_event("gemeente", "sensor.fault"), event("sensor.fault", {"active": "[red]x"})
    )
    text = shown(view)
    assert "city/v1/site-a/gw-1   gateway: online" in text
    assert "active=[red]x" in text
    assert "playing: [bold]a fall[/] in the hall" in text


def test_a_missing_value_is_a_dash_never_none() -> None:
    view = GatewayView(TOPICS)
    view.on_message(
        TOPICS.actor_event("ambulance", "fall.detected"),
        event("fall.detected", {"zone": "hall", "confidence": 0.7, "camera": None}, actor="ambulance"),
    )
    view.on_message(TOPICS.source_status("cam"), json.dumps({"source": "cam", "state": "online"}).encode())
    text = shown(view)
    assert "None" not in text and "null" not in text
    line = row(text, "ambulance")
    assert "23:00:05" in line and " - " in line and "zone=hall  confidence=0.7  camera=-" in line
    assert row(text, "cam").split() == [
        "│",
        "cam",
        "│",
        "online",
        "│",
        "-",
        "│",
        "-",
        "│",
        "-",
        "│",
        "-",
        "│",
        "-",
        "│",
    ]


def test_the_last_reading_age_keeps_counting_from_when_the_status_was_sent() -> None:
    clock = Clock()
    view = GatewayView(TOPICS, clock=clock)
    view.on_message(TOPICS.source_status("pm-1"), status("pm-1", "online", 40, 2.0, T0))
    clock.now = T0 + timedelta(seconds=30)
    assert "32 s ago" in row(shown(view), "pm-1")
    clock.now = T0 + timedelta(minutes=5)
    assert "5 min 2 s ago" in row(shown(view), "pm-1")
    assert [ago(0.4), ago(59.6), ago(3600 * 3 + 600)] == ["0 s ago", "1 min 0 s ago", "3 h 10 min ago"]


def test_a_source_without_news_is_starting_and_availability_events_update_its_state() -> None:
    view = GatewayView(TOPICS)
    for name in ("hall", "pm-1"):
        view.on_message(TOPICS.source_status(name), status(name, "offline", 0, None, T0))
    text = shown(view)
    assert "starting" in row(text, "hall") and "starting" in row(text, "pm-1")
    view.on_message(TOPICS.actor_event("gemeente", "camera.offline"), event("camera.offline", {}, "hall"))
    view.on_message(TOPICS.actor_event("gemeente", "sensor.online"), event("sensor.online", {}, "pm-1"))
    text = shown(view)
    assert "offline" in row(text, "hall") and "online" in row(text, "pm-1")
    view.on_message(TOPICS.source_status("hall"), status("hall", "offline", 0, None, T0))
    assert "offline" in row(shown(view), "hall")  # an outage once reported is not "starting" again


def test_every_event_message_since_start_is_counted() -> None:
    view = GatewayView(TOPICS, max_events=2)
    view.since_label = "since the gateway started"
    for kind in ("sensor.online", "sensor.online", "air.band_changed"):
        view.on_message(TOPICS.actor_event("gemeente", kind), event(kind, {}, "pm-1"))
    view.on_message(TOPICS.actor_event("gemeente", "x"), b"\xff not json")
    totals = shown(view).strip().splitlines()[-1]
    assert totals.startswith("3 event messages since the gateway started (")
    assert totals.endswith("): air.band_changed 1, sensor.online 2; 1 unreadable")
    assert data_text({"band": "good", "previous": None, "faults": ["stuck", "jump"]}) == (
        "band=good  previous=-  faults=stuck,jump"
    )
