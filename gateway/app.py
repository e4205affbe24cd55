"""Composition root: config -> stages -> run/stop. Nothing else lives here.

sensors (serial, nodes) ─┐
                         ├─> events ─> privacy door ─> durable outbox ─> MQTT
cameras (frames stay) ───┘
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from pathlib import Path

from gateway import audit
from gateway.audit import AuditLog
from gateway.commissioning.server import serve as serve_commissioning
from gateway.config import GatewayConfig
from gateway.escalation.wiring import build_desk
from gateway.health import HealthReporter
from gateway.messages import Event, Publication, utc_now
from gateway.operations import Operations
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.publish.mqtt import BrokerRejected, MqttPublisher
from gateway.registry import CORRECTOR, FALL, NOWCASTER, ModelSlots
from gateway.rollout.manager import Perception
from gateway.sensors import SensorPipeline
from gateway.sources.heartbeat import Heartbeat
from gateway.state import StateFile
from gateway.trust import Trusted
from gateway.vision.pipeline import build_camera

log = logging.getLogger(__name__)

TRUST_POLL_S = 5.0  # how often the policy and model files are checked for a signed update
EMIT_WAIT_S = 5.0  # a source waits this long for room in the inbox before an event is lost


class Gateway:
    """One running gateway: every source's events through the door into the outbox, then MQTT."""

    def __init__(
        self, config: GatewayConfig, trusted: Trusted, audit_log: AuditLog, config_path: Path | None = None
    ) -> None:
        self.config, self.trusted, self.audit = config, trusted, audit_log
        self.door = Door.of(config, trusted.policy.value)
        self.outbox = Outbox(config.storage / "outbox.sqlite3", config.outbox)
        client_id = config.mqtt.client_id or f"{config.site}-{config.gateway}"
        self.publisher = MqttPublisher(client_id, self.outbox, will=self.door.gateway_status(online=False))
        self._inbox: queue.Queue[Event] = queue.Queue(maxsize=10_000)
        models = trusted.models.value
        self.slots = ModelSlots(models)
        corrector = self.slots.slot(CORRECTOR) or models.corrector
        state = StateFile(config.storage / "detector_state.json")
        self.sensors = SensorPipeline(config, corrector, self.slots.slot(NOWCASTER), self._emit, state)
        fall = self.slots.slot(FALL)
        scale = config.sim_time_scale
        self.cameras = [build_camera(c, fall, models.people, self._emit, scale) for c in config.cameras]
        self.health = HealthReporter(
            self.publisher,
            self.door,
            lambda: [c.source.health() for c in self.cameras] + self.sensors.health(),
        )
        self.ops = Operations(config, config_path, audit_log, self.door, self.sensors.reconfigure)
        self.ops.attach(self.cameras, trusted, Perception(fall, models.people))
        self.escalation = build_desk(config, self.door, self.cameras, audit_log, self.publisher)
        self.events_out, self.heartbeat = 0, Heartbeat()  # the main loop's, for the service watchdog

    def _emit(self, event: Event) -> None:
        """From a source's thread: queue it, waiting (bounded) rather than dropping an event."""
        try:
            self._inbox.put(event, timeout=EMIT_WAIT_S)
        except queue.Full:
            log.error("inbox full for %.0f s: %s from %s lost", EMIT_WAIT_S, event.type, event.source)

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set; raises BrokerRejected if the broker refuses this gateway."""
        mqtt = self.config.mqtt
        self.publisher.secure(mqtt)
        self.ops.start(self.publisher)
        self.publisher.start(mqtt.host, mqtt.port, mqtt.keepalive_s)
        self.publisher.set_state(self.door.gateway_status(online=True))
        serve_commissioning(self.config, self.cameras, self.sensors, stop)  # a local viewer; off by default
        self.sensors.start()
        for camera in self.cameras:
            camera.start()
        self.trusted.record_loaded(self.audit)
        next_trust_check = time.monotonic() + TRUST_POLL_S
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                if self.publisher.fatal is not None:
                    raise self.publisher.fatal
                with contextlib.suppress(queue.Empty):
                    self.handle(self._inbox.get(timeout=0.2))
                self._store(self.door.tick(utc_now()) + self.escalation.tick(utc_now()))
                self._store(self.ops.tick(utc_now()))
                if time.monotonic() >= next_trust_check:
                    self.ops.reload_trusted(self.slots)
                    next_trust_check = time.monotonic() + TRUST_POLL_S
                self.health.tick(self.ops.remote.config.health_interval_s)
        finally:
            self.shutdown()

    def handle(self, event: Event) -> None:
        """One event through the door into the outbox."""
        log.info("event %s %s %s", event.type, event.source, dict(event.data))
        self.events_out += 1
        publications = self.door.event(event)
        self.ops.published(event, publications)
        self._store(publications + self.escalation.on_event(event))

    def _store(self, publications: list[Publication]) -> None:
        """Into the durable outbox (none: retry what a full disk held back), wake the publisher, audit."""
        if self.outbox.put(publications):
            self.publisher.notify()
        audited = ("actor", "topic", "event_id", "event_type")
        self.audit.append_many(audit.PUBLICATION, [{k: getattr(p, k) for k in audited} for p in publications])

    def shutdown(self) -> None:
        """Stop sources first, then hand what is left to the broker, then close the outbox."""
        for camera in self.cameras:
            camera.stop()
        self.sensors.stop()
        while not self._inbox.empty():
            self.handle(self._inbox.get_nowait())
        self._store(self.escalation.close())
        self.health.publish()
        self.publisher.stop(final_state=self.door.gateway_status(online=False))
        self.outbox.close()
        self.ops.close()
        self.audit.close()


__all__ = ["BrokerRejected", "Gateway"]
