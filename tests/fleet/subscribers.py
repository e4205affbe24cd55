"""`python -m tests.fleet.subscribers SPEC.json`: the integrators, one MQTT client per identity.

Each actor (`actor.<name>`) subscribes to the only namespace the generated ACL lets it read,
`city/v1/<name>/#`; an operator (`operator.<name>`) reads `city/v1/#`. QoS 1, mutual TLS, each
client on its own paho thread, stamping every message with the monotonic clock on arrival (one clock
for every process on the machine, so it compares with the gateways' stamps). Requests:

- `connect {timeout}`: connect and subscribe every client; the SUBACK reason codes.
- `collect`: what each client received since the last collect: events as [topic, id, time], and a
  count of the rest (retained status, source health).
- `stop`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.fleet.channel import serve
from tests.fleet.worker import raise_fd_limit


class Subscriber:
    """One integrator's client: subscribes on every CONNACK, records what arrives."""

    def __init__(self, name: str, spec: dict[str, Any], ca: str) -> None:
        self.name, self.filter = name, spec["filter"]
        self.received: list[tuple[str, bytes, float]] = []
        self.suback: list[int] | None = None
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fleet-{name}", protocol=mqtt.MQTTv5
        )
        self.client.tls_set(ca_certs=ca, certfile=spec["cert"], keyfile=spec["key"])
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.filter, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self.suback = [c.value for c in codes]
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload), now))

    def start(self, host: str, port: int) -> None:
        """Connect in the background."""
        self.client.connect_async(host, port, keepalive=30, clean_start=True)
        self.client.loop_start()

    def wait_subscribed(self, timeout: float) -> list[int] | None:
        """The SUBACK codes, or None if none came within `timeout`."""
        self._subscribed.wait(timeout)
        return self.suback

    def take(self) -> dict[str, Any]:
        """What arrived since the last take: events [topic, id, time]; the number of other messages."""
        with self._lock:
            got, self.received = self.received, []
        events = [[topic, json.loads(payload)["id"], t] for topic, payload, t in got if "/events/" in topic]
        return {"events": events, "other": len(got) - len(events)}

    def stop(self) -> None:
        """Disconnect and stop the client's thread."""
        self.client.disconnect()
        self.client.loop_stop()


def main(argv: list[str]) -> int:
    """Build the clients from the spec file, say so, then answer requests until `stop`."""
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(Path(argv[0]).read_text())
    limits = raise_fd_limit()
    subs = {name: Subscriber(name, client, spec["ca"]) for name, client in spec["clients"].items()}
    sys.stdout.write(json.dumps({"ready": len(subs), "limits": limits}) + "\n")
    sys.stdout.flush()

    def connect(request: dict[str, Any]) -> dict[str, Any]:
        for sub in subs.values():
            sub.start(spec["host"], int(spec["port"]))
        deadline = time.monotonic() + float(request["timeout"])
        return {n: s.wait_subscribed(max(0.0, deadline - time.monotonic())) for n, s in subs.items()}

    def stop(_request: dict[str, Any]) -> dict[str, Any]:
        for sub in subs.values():
            sub.stop()
        return {"stopped": len(subs)}

    serve({"connect": connect, "collect": lambda _r: {n: s.take() for n, s in subs.items()}, "stop": stop})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
