"""MQTT 5 publisher (paho-mqtt 2.x): drains the durable outbox with QoS 1.

paho's own queue is in memory, so only a bounded window of outbox items is ever handed to it;
a row leaves the outbox only on its PUBACK. Retained state (gateway and source status) is
latest-wins and re-sent after every reconnect rather than stored.

The outbox is the only resend path: on every CONNACK paho's own copies of unacknowledged messages
are dropped (it would resend them byte for byte, unmarked) and the outbox is re-scanned from the
start, so a row stored in an earlier connection always goes out marked `historical: true`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttConfig, is_loopback
from gateway.events import Priority
from gateway.messages import Publication
from gateway.outbox import Outbox, OutboxItem
from gateway.publish.reach import Reachability
from gateway.publish.watch import CallbackWatch
from gateway.sources.heartbeat import Heartbeat

log = logging.getLogger(__name__)

# Messages handed to paho and not yet acknowledged: paho keeps INFLIGHT of them on the wire and sends
# the rest itself as PUBACKs come, so a backlog drains without a thread switch per message. Small
# enough that a new alarm queued behind them still leaves within a fraction of a second.
WINDOW = 1024
INFLIGHT = 64  # paho looks through its in-flight messages on every PUBACK: more costs more
IDLE_WAIT_S = 0.5  # the drain looks again this often when nothing wakes it

# CONNACK reason codes after which retrying cannot help (MQTT 5, section 3.2.2.2).
_FATAL_CONNACK = {0x84, 0x85, 0x86, 0x87, 0x8C}


def paho_keepalive(keepalive_s: int) -> int:
    """The keepalive to give paho so that a silent link is noticed within 1.5 x `keepalive_s`.

    paho pings after one keepalive without a byte from the broker and gives up one keepalive later,
    in a loop that looks about once a second: up to 2 keepalives + 1 s after the link went silent.
    Told three quarters, less that second, it notices within MQTT's 1.5 (section 3.1.2.10)."""
    return max(1, int(0.75 * keepalive_s - 0.5))


class BrokerRejected(Exception):
    """The broker refused this client (credentials, authorisation): retrying cannot help."""


class MqttPublisher:
    """Owns the broker connection; everything published goes through `Outbox` or `set_state`."""

    def __init__(self, client_id: str, outbox: Outbox, will: Publication, window: int = WINDOW) -> None:
        self.outbox = outbox
        self.window = window
        self._refill = max(1, window // 4)  # a backlog is fetched in batches of at least this many
        self.fatal: BrokerRejected | None = None
        self.acked = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.will_set(will.topic, will.payload, qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.max_inflight_messages_set(min(window, INFLIGHT))
        self.network = CallbackWatch()  # paho's network thread, for the service watchdog
        self.drain_beat = Heartbeat()  # the drain thread's, likewise
        watched = self.network.watched  # every callback: a hang or a crash in one is the thread's
        self._client.on_pre_connect = watched(lambda client, userdata: None)
        self._client.on_connect = watched(self._on_connect)
        self._client.on_disconnect = watched(self._on_disconnect)
        self._client.on_connect_fail = watched(self._on_connect_fail)
        self._client.on_publish = watched(self._on_publish)
        self._client.on_message = watched(self._on_message)
        self.reach = Reachability("(not started)")
        self._subscriptions: dict[str, Callable[[bytes], None]] = {}
        self._cond = threading.Condition()
        self._inflight: dict[int, int | None] = {}  # paho mid -> outbox seq (None: retained state)
        self._early: dict[int, ReasonCode] = {}  # PUBACKs that overtook their registration
        self._cursors: dict[Priority, int] = {}  # per class: the newest row handed over this connection
        self._fresh = False  # rows were stored since the last fetch: fetch even a small batch
        self._session: int | None = None  # the outbox session of the current connection
        # Held while a message is handed to paho and while a new connection drops paho's copies, so a
        # message is never handed over for one session and sent in the next. Lock order: this, then
        # paho's message lock, then _cond (paho calls on_publish holding its lock).
        self._send_lock = threading.Lock()
        self._state: dict[str, Publication] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._drain, name="mqtt-drain", daemon=True)

    @property
    def connected(self) -> bool:
        """Whether a CONNACK has been received on the current connection."""
        return self._session is not None

    def subscribe(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Deliver messages on `topic` (QoS 1) to `handler`, on paho's thread; resubscribed on reconnect."""
        self._subscriptions[topic] = handler

    def use_tls(self, ca: Path, cert: Path, key: Path) -> None:
        """Mutual TLS: verify the broker against `ca`, present this device's certificate."""
        self._client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))

    def secure(self, mqtt: MqttConfig) -> None:
        """Mutual TLS when configured; plain MQTT only to loopback or where `mqtt.insecure` allows it."""
        if mqtt.tls is not None:
            self.use_tls(mqtt.tls.ca, mqtt.tls.cert, mqtt.tls.key)
        elif is_loopback(mqtt.host):
            log.warning("plain MQTT to the loopback broker %s: fine for development only", mqtt.host)
        else:
            log.warning("plain MQTT to %s because mqtt.insecure is set: events travel unencrypted", mqtt.host)

    def start(self, host: str, port: int, keepalive: int) -> None:
        """Connect in the background; reconnects with back-off until stopped. A silent (half-open)
        link is noticed within 1.5 x `keepalive` seconds."""
        self.reach = Reachability(f"{host}:{port}")
        self._client.connect_async(host, port, keepalive=paho_keepalive(keepalive), clean_start=True)
        self.network.expect()
        self._client.loop_start()
        self.drain_beat.beat()
        self._thread.start()

    def notify(self) -> None:
        """New rows are in the outbox."""
        with self._cond:
            self._fresh = True
            self._cond.notify_all()

    def hung(self) -> list[str]:
        """The publisher's threads that are late: paho's network thread (gone, or stuck in one of our
        callbacks) and the drain; none once stopping or refused for good."""
        if self._stopping or self.fatal is not None:
            return []
        late = [] if self.network.alive() else ["mqtt-network"]
        return late if self.drain_beat.alive() else [*late, "mqtt-drain"]

    def set_state(self, publication: Publication) -> None:
        """Publish retained state now if connected, and again after every reconnect."""
        with self._cond:
            self._state[publication.topic] = publication
            connected = self.connected
        if connected:
            self._send(publication, None, retain=True)

    def stop(self, final_state: Publication | None = None, timeout: float = 1.5) -> None:
        """Publish a final state, wait for in-flight acks, disconnect: all within `timeout` in total.

        A stalled or absent link cannot delay shutdown past it; what is unacknowledged stays in
        the outbox for the next start."""
        deadline = time.monotonic() + timeout
        if final_state is not None and self.connected:
            info = self._client.publish(final_state.topic, final_state.payload, qos=1, retain=True)
            info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            while self._inflight and self.connected and time.monotonic() < deadline:
                self._cond.wait(0.05)
        if self._thread.is_alive():
            self._thread.join(max(0.1, deadline - time.monotonic()))
        self._client.disconnect()
        # paho's network thread may sit in a connect attempt or a select; it is a daemon: wait for
        # it only until the deadline (plus the 1 s paho sleeps at most between checks).
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(max(0.0, deadline - time.monotonic()) + 1.0)

    # --- paho callbacks (network thread) ---

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Properties | None
    ) -> None:
        if reason.is_failure:
            if reason.value in _FATAL_CONNACK:
                self.fatal = BrokerRejected(f"broker refused the connection: {reason}")
                log.error("%s; not retrying", self.fatal)
                client.disconnect()
            else:
                log.warning("broker refused the connection for now: %s", reason)
            return
        log.info("connected to the broker")
        self.reach.connected()
        with self._send_lock:
            client.drop_out_messages()  # the outbox resends them, marked (paho calls this before its resend)
            with self._cond:
                self._session = self.outbox.begin_session()
                self._inflight.clear()
                self._early.clear()
                self._cursors = {}  # re-scan: every row not yet acknowledged is sent again
                states = list(self._state.values())
                self._cond.notify_all()
        for state in states:
            self._send(state, None, retain=True)
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError` without the exception: it is the one being handled
        self.reach.failed(sys.exc_info()[1])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        handler = self._subscriptions.get(message.topic)
        if handler is not None:
            handler(bytes(message.payload))

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Properties | None
    ) -> None:
        with self._cond:
            was_connected = self._session is not None
            self._session = None
            self.outbox.end_session()
            self._cond.notify_all()
        if was_connected and not self._stopping:
            log.warning("lost the broker (%s); events are kept in the outbox", reason)
        if self.fatal is not None:
            client.loop_stop()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Properties | None
    ) -> None:
        with self._cond:
            if mid not in self._inflight:
                self._early[mid] = reason
                return
            seq = self._inflight.pop(mid)
            # Wake the drain when there is room for a batch, when it is all done, or for fresh rows
            # (an alarm) waiting for any room at all.
            if self._fresh or len(self._inflight) in (0, self.window - self._refill):
                self._cond.notify_all()
        self._settle(seq, reason)

    def _settle(self, seq: int | None, reason: ReasonCode) -> None:
        if seq is None:
            return
        if reason.is_failure:
            log.error("broker rejected outbox row %d (%s); kept for the next connection", seq, reason)
            return
        self.outbox.ack(seq)
        self.acked += 1

    def _send(
        self, publication: Publication, seq: int | None, retain: bool = False, session: int | None = None
    ) -> None:
        """Hand one message to paho, then register its mid (never under _cond: paho calls
        on_publish while holding its own message lock, so holding ours here could deadlock).
        An outbox row (`seq`) marked for `session` is skipped if that connection is gone."""
        with self._send_lock:
            if seq is not None and session != self._session:
                return  # marked for another connection; the re-scan of the current one sends it
            info = self._client.publish(publication.topic, publication.payload, qos=1, retain=retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                log.warning(
                    "could not hand %s to the client: %s", publication.topic, mqtt.error_string(info.rc)
                )
                return
            with self._cond:
                early = self._early.pop(info.mid, None)
                if early is None:
                    self._inflight[info.mid] = seq
        if early is not None:
            self._settle(seq, early)

    # --- drain thread ---

    def _next_batch(self) -> tuple[int, list[OutboxItem]] | None:
        """Wait until rows can be sent: (session, rows, the most urgent first); None when stopping.

        A backlog is fetched a batch at a time (once there is room for `_refill` rows), fresh rows
        at once, so a new alarm overtakes the backlog within one batch. The read runs outside
        `_cond`: PUBACKs are never held up by the disk. Idle, it looks again every IDLE_WAIT_S."""
        idle = False  # the last look found nothing to send
        while True:
            with self._cond:
                while not (self._stopping or self._may_fetch(idle)):
                    self.drain_beat.beat(IDLE_WAIT_S)
                    if not self._cond.wait(IDLE_WAIT_S):
                        break
                if self._stopping:
                    return None
                session, room, after = self._session, self.window - len(self._inflight), dict(self._cursors)
                self._fresh = False
            self.drain_beat.beat()
            if session is None or room <= 0:
                self.outbox.flush()  # what was acknowledged before the link went
                continue
            items = self.outbox.due(after, room)
            with self._cond:
                if self._session != session:
                    continue  # reconnected meanwhile: its re-scan starts over
                for item in items:
                    self._cursors[item.priority] = max(self._cursors.get(item.priority, 0), item.seq)
            if items:
                return session, items
            idle = True

    def _may_fetch(self, idle: bool) -> bool:
        """Connected, and room for a batch (unless the last look found nothing) or fresh rows."""
        room = self.window - len(self._inflight)
        if self._session is None or room <= 0:
            return False
        return self._fresh or (not idle and room >= self._refill)

    def _drain(self) -> None:
        while (batch := self._next_batch()) is not None:
            session, items = batch
            for item in items:
                self._send(item.delivered(session), item.seq, session=session)
