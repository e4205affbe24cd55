"""Test helpers: a recording MQTT subscriber with bounded waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


# Called with every message any Recorder receives, on paho's thread: keep it quick (append, no checks).
# tests/e2e/conftest.py uses it to check every received message against the published contract.
OBSERVERS: list[Callable[[Received], None]] = []


class Recorder:
    """Subscribes to a topic filter on a real broker and records every message."""

    def __init__(
        self,
        host: str,
        port: int,
        topic_filter: str,
        session: str | None = None,
        keep: Callable[[Received], bool] | None = None,
    ) -> None:
        """With `session`, a persistent MQTT 5 session: the broker queues what arrives while away.
        With `keep`, only the messages it accepts are kept (OBSERVERS still see every one)."""
        self.messages: list[Received] = []
        self._keep = keep
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=session or "", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        props = None
        if session:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect_async(host, port, clean_start=not session, properties=props)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscriber did not connect"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        received = Received(msg.topic, msg.payload, bool(msg.retain))
        for observe in OBSERVERS:
            observe(received)
        if self._keep is not None and not self._keep(received):
            return
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        """Wait (bounded) until predicate(messages) holds; return a snapshot either way."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages) and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            return list(self.messages)

    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return [m.json() for m in self.messages if "/events/" in m.topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # Break the client <-> callback cycle so paho's sockets close now, not at some later GC
        # (a late close surfaces as a ResourceWarning, which the suite treats as an error).
        self.client.on_connect = self.client.on_subscribe = self.client.on_message = None
