"""A live terminal view of one gateway's topics: what an integrator on the broker sees."""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Group
from rich.live import Live
from rich.table import Table

from gateway.config import GatewayConfig
from gateway.topics import Topics


class GatewayView:
    """State rendered by `watch`: gateway status, source health, the latest events."""

    def __init__(self, topics: Topics, max_events: int = 25) -> None:
        self.topics = topics
        self.status = "unknown"
        self.sources: dict[str, dict[str, Any]] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
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
                self.sources[str(body.get("source"))] = body
            elif "/events/" in topic:
                self.events.appendleft(body)

    def render(self) -> Group:
        """Two tables: sources, then events (newest first)."""
        with self.lock:
            sources = Table(title=f"{self.topics.base}  [{self.status}]", expand=True)
            for col in (
                "source",
                "state",
                "frames ok",
                "bad frames",
                "timeouts",
                "reconnects",
                "last reading",
            ):
                sources.add_column(col)
            for name, h in sorted(self.sources.items()):
                age = h.get("last_reading_age_s")
                style = "green" if h.get("state") == "online" else "red"
                sources.add_row(
                    name,
                    f"[{style}]{h.get('state')}[/]",
                    str(h.get("frames_ok")),
                    str(h.get("bad_frames")),
                    str(h.get("timeouts")),
                    str(h.get("reconnects")),
                    "-" if age is None else f"{age} s ago",
                )
            events = Table(title="events per actor (newest first)", expand=True)
            for col in ("time", "actor", "type", "source", "data", "quality"):
                events.add_column(col, overflow="fold")
            for e in self.events:
                hist = " (replay)" if e.get("historical") else ""
                events.add_row(
                    str(e.get("time")),
                    str(e.get("actor")),
                    str(e.get("type")) + hist,
                    str(e.get("source")),
                    json.dumps(e.get("data"), separators=(",", ":")),
                    ",".join(e.get("quality") or []),
                )
            return Group(sources, events)


def watch_gateway(config: GatewayConfig, credentials: tuple[Path, Path] | None = None) -> int:
    """Subscribe to the gateway's namespace and every actor's view of its events; render until Ctrl-C.

    On a TLS broker `credentials` (an operator's certificate and key) are needed: the ACL lets a
    gateway's own identity read nothing but its commands.
    """
    topics = Topics(config.mqtt.prefix, config.site, config.gateway)
    view = GatewayView(topics)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    tls = config.mqtt.tls
    if tls is not None:
        cert, key = credentials or (tls.cert, tls.key)
        client.tls_set(ca_certs=str(tls.ca), certfile=str(cert), keyfile=str(key))
    filters = [f"{topics.base}/#", topics.actor_event("+", "#")]
    client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in filters])
    client.on_message = lambda _c, _u, msg: view.on_message(msg.topic, bytes(msg.payload))
    client.connect_async(config.mqtt.host, config.mqtt.port)
    client.loop_start()
    try:
        with Live(view.render(), refresh_per_second=4, screen=False) as live:
            while True:
                threading.Event().wait(0.25)
                live.update(view.render())
    except KeyboardInterrupt:
        return 0
    finally:
        client.disconnect()
        client.loop_stop()
