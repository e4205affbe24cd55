"""An MQTT 5 subscriber that timestamps every message on arrival (paho network thread)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class ListenerError(OSError):
    """The subscriber could not connect and subscribe in time."""


class Listener:
    """Subscribes (QoS 1) to one topic filter on 127.0.0.1 and keeps (arrival time, topic, payload)."""

    def __init__(self, port: int, topic_filter: str, timeout: float = 10.0) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda client, *_: client.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise ListenerError(f"no subscription to {topic_filter} on port {port} within {timeout} s")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        with self._lock:
            self.messages.append((now, msg.topic, bytes(msg.payload)))

    def snapshot(self) -> list[tuple[float, str, bytes]]:
        """Everything received so far."""
        with self._lock:
            return list(self.messages)

    def count(self) -> int:
        """How many messages have arrived."""
        with self._lock:
            return len(self.messages)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
