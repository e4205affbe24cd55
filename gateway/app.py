"""Composition root: config -> stages -> run/stop. Nothing else lives here.

source -> detector -> event -> privacy door -> durable outbox -> MQTT
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from gateway import audit
from gateway.air.detector import AirQualityDetector, AirQualitySettings
from gateway.audit import AuditLog
from gateway.commands import CommandRefused, SeenCommands, verify_command, write_config
from gateway.config import CameraConfig, GatewayConfig, SensorConfig, is_loopback
from gateway.events import status_event
from gateway.flood.detector import FloodDetector, FloodSettings
from gateway.inference.slots import CorrectorSlot, FallModelSlot, NowcasterSlot
from gateway.messages import Event, JsonValue, Publication, Reading, SourceStatus, utc_now
from gateway.outbox import Outbox
from gateway.privacy.door import Door
from gateway.privacy.projection import Location
from gateway.publish.mqtt import BrokerRejected, MqttPublisher
from gateway.reload import Trusted
from gateway.sources.camera import CameraSource
from gateway.sources.node_link import NodeLink
from gateway.sources.protocols.base import SensorOptions
from gateway.sources.protocols.registry import get_protocol
from gateway.sources.serial import SerialSource, SerialSpec, SourceOutput
from gateway.timescale import scale_durations
from gateway.topics import Topics
from gateway.trust import Untrusted
from gateway.vision.fall import FallDetector, FallSettings
from gateway.vision.person import BackgroundLocator
from gateway.vision.person_model import OnnxPersonLocator
from gateway.vision.pipeline import CameraPipeline, FrameDetector, camera_regions, camera_spec
from gateway.vision.tamper import TamperDetector, TamperSettings

log = logging.getLogger(__name__)

TRUST_POLL_S = 5.0  # how often the policy and model files are checked for a signed update
HUMIDITY_MAX_AGE_S = 600.0  # an older paired humidity no longer describes the air


def serial_spec(sensor: SensorConfig, time_scale: float = 1.0) -> SerialSpec:
    """Transport settings for one configured sensor."""
    protocol = get_protocol(sensor.type)
    poll_s = sensor.poll_s or protocol.poll_period_s
    default_offline = max(10.0, 3 * poll_s, 60.0 * sensor.working_period_min + 10)
    link = NodeLink(sensor.id, sensor.node_id) if sensor.type == "node" else None
    spec = SerialSpec(
        source=sensor.id,
        port=sensor.port,
        protocol=protocol,
        options=SensorOptions(mode=sensor.mode, working_period_min=sensor.working_period_min),
        poll_s=poll_s,
        warmup_s=protocol.warmup_s if sensor.warmup_s is None else sensor.warmup_s,
        offline_after_s=sensor.offline_after_s or default_offline,
        link=link,
    )
    return scale_durations(spec, 1.0 / time_scale)


def locations(config: GatewayConfig) -> dict[str, Location]:
    """Each source's configured location ("" is the gateway's own)."""
    here = config.location
    out = {"": Location(here.zone, here.lat, here.lon)}
    for sensor in config.sensors:
        where = sensor.location or here
        out[sensor.id] = Location(where.zone, where.lat, where.lon)
    return out


class ReadingDetector(Protocol):
    """What the app feeds readings to: one detector per source."""

    def on_reading(self, reading: Reading, humidity: float | None = None) -> list[Event]:
        """The events this reading causes."""
        ...


def reading_detectors(
    config: GatewayConfig, corrector: CorrectorSlot, nowcaster: NowcasterSlot | None
) -> dict[str, ReadingDetector]:
    """One detector per sensor (scaled for a simulator): water level for maxbotix sensors and nodes
    with levels, air quality otherwise; a node gets both, its readings routed by sensor group."""
    scale = 1.0 / config.sim_time_scale
    air = scale_durations(
        AirQualitySettings(
            window_s=config.air.window_s,
            co2_levels_ppm=config.air.co2_levels_ppm,
            eaqi_table=config.air.eaqi_table,
        ),
        scale,
    )
    detectors: dict[str, ReadingDetector] = {}
    for sensor in config.sensors:
        flood = None
        if sensor.mount_height_mm is not None and sensor.levels is not None:
            levels = (sensor.levels.watch, sensor.levels.warning, sensor.levels.alarm)
            settings = scale_durations(
                FloodSettings(mount_height_mm=sensor.mount_height_mm, levels=levels), scale
            )
            flood = FloodDetector(sensor.id, settings, nowcaster)
        if sensor.type == "node":
            detectors[sensor.id] = ByKeys(AirQualityDetector(sensor.id, air, corrector), flood)
        else:
            detectors[sensor.id] = flood or AirQualityDetector(sensor.id, air, corrector)
    return detectors


class ByKeys:
    """A sensor node's detectors: level readings to the flood detector, everything else to air quality."""

    def __init__(self, air: ReadingDetector, flood: ReadingDetector | None) -> None:
        self.air, self.flood = air, flood

    def on_reading(self, reading: Reading, humidity: float | None = None) -> list[Event]:
        """Route by the reading's keys (the node link sends one reading per sensor group)."""
        if "distance_mm" in reading.values or "no_target" in reading.flags:
            return [] if self.flood is None else self.flood.on_reading(reading, humidity)
        if not reading.values.keys() & {"pm1", "pm25", "pm10", "co2"}:
            return []  # climate or rain only: used as a humidity source, no detector of its own yet
        return self.air.on_reading(reading, humidity)


class Gateway:
    """One running gateway."""

    def __init__(
        self, config: GatewayConfig, trusted: Trusted, audit_log: AuditLog, config_path: Path | None = None
    ) -> None:
        self.config = config
        self.config_path = config_path
        self._commands: queue.Queue[bytes] = queue.Queue(maxsize=100)
        self._seen = SeenCommands(config.storage / "commands_seen.json")
        self.trusted = trusted
        self.audit = audit_log
        topics = Topics(config.mqtt.prefix, config.site, config.gateway)
        self.door = Door(topics, trusted.policy.value, locations(config), config.sim_time_scale)
        self.corrector = CorrectorSlot(trusted.models.value.corrector)
        nowcaster = trusted.models.value.nowcaster
        self.nowcaster = NowcasterSlot(nowcaster) if nowcaster is not None else None
        fall_model = trusted.models.value.fall
        self.fall_model = FallModelSlot(fall_model) if fall_model is not None else None
        self.outbox = Outbox(config.storage / "outbox.sqlite3")
        client_id = config.mqtt.client_id or f"{config.site}-{config.gateway}"
        self.publisher = MqttPublisher(client_id, self.outbox, will=self.door.gateway_status(online=False))
        self._inbox: queue.Queue[SourceOutput | Event] = queue.Queue(maxsize=10_000)
        scale = config.sim_time_scale
        self.sources = [SerialSource(serial_spec(s, scale), self._inbox.put) for s in config.sensors]
        self.cameras = [self._camera(c) for c in config.cameras]
        self._camera_ids = {c.id for c in config.cameras}
        self.detectors = self._detectors(config)
        self._humidity_from = {s.id: s.humidity_from for s in config.sensors}
        self._latest_humidity: dict[str, Reading] = {}
        self._humidity_max_age = timedelta(seconds=HUMIDITY_MAX_AGE_S / scale)
        self.events_out = 0

    def _detectors(self, config: GatewayConfig) -> dict[str, ReadingDetector]:
        return reading_detectors(config, self.corrector, self.nowcaster)

    def _camera(self, camera: CameraConfig) -> CameraPipeline:
        """One camera's isolated pipeline: frames stay inside it, only events come out."""
        regions = camera_regions(camera)
        source = CameraSource(camera_spec(camera), regions.black_out)
        tamper = TamperDetector(
            camera.id, scale_durations(TamperSettings(), 1.0 / self.config.sim_time_scale), regions
        )
        detectors: list[FrameDetector] = [tamper]
        if camera.fall.enabled and self.fall_model is not None:
            # Not time-scaled: simulated cameras stream in real time whatever the sensors' pace.
            fall = FallSettings(confirm_s=camera.fall.confirm_s)
            locator = self._person_locator(camera)
            detectors.append(FallDetector(camera.id, fall, regions, self.fall_model, locator=locator))
        elif camera.fall.enabled:
            log.warning(
                "camera %s: no fall model in the signed models manifest; fall detection off", camera.id
            )
        return CameraPipeline(source, detectors, self._from_camera)

    def _person_locator(self, camera: CameraConfig) -> OnnxPersonLocator | None:
        """The integrator's ONNX person model for this camera, if configured (default: background)."""
        name = camera.fall.person_model
        if name is None:
            return None
        people = self.trusted.models.value.people
        if name not in people:
            listed = ", ".join(people) or "none"
            raise Untrusted(
                "model",
                f"camera {camera.id}: fall.person_model {name} is not in the signed models manifest "
                f"(person models listed: {listed})",
            )
        return people[name].locator(BackgroundLocator())

    def _from_camera(self, item: Event | SourceStatus) -> None:
        """From a camera's thread: queue it, waiting (bounded) rather than dropping an event."""
        try:
            self._inbox.put(item, timeout=5.0)
        except queue.Full:
            log.error("inbox full for 5 s: %s from camera %s lost", type(item).__name__, item.source)

    def _receive_command(self, payload: bytes) -> None:
        """From paho's thread: queue it; a flood is dropped here, never blocking the network loop."""
        try:
            self._commands.put_nowait(payload)
        except queue.Full:
            log.warning("command queue full: a command was dropped")

    def _handle_command(self, payload: bytes) -> None:
        """Verify, validate, apply atomically, audit and answer one remote configuration command."""
        self.audit.append(audit.COMMAND_RECEIVED, {"topic": self.door.topics.commands, "bytes": len(payload)})
        try:
            change = verify_command(payload, self.config, self._seen, utc_now())
            if self.config_path is not None:
                write_config(self.config_path, change)
        except (CommandRefused, OSError) as exc:
            log.warning("remote configuration refused: %s", exc)
            self.audit.append(audit.CONFIG_REFUSED, {"error": str(exc)[:500]})
            self._store([self.door.command_reply("", "refused", str(exc))])
            return
        self._seen.add(change.command_id)
        self.config = change.config
        self.detectors = self._detectors(change.config)
        detail: dict[str, JsonValue] = {
            "actor": change.operator,
            "command_id": change.command_id,
            "keys": list[JsonValue](change.keys),
        }
        self.audit.append(audit.CONFIG_CHANGED, detail)
        log.warning("remote configuration by %s applied: %s", change.operator, ", ".join(change.keys))
        self._store([self.door.command_reply(change.command_id, "applied", ", ".join(change.keys))])

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set; raises BrokerRejected if the broker refuses this gateway."""
        mqtt = self.config.mqtt
        if mqtt.tls is not None:
            self.publisher.use_tls(mqtt.tls.ca, mqtt.tls.cert, mqtt.tls.key)
        elif is_loopback(mqtt.host):
            log.warning("plain MQTT to the loopback broker %s: fine for development only", mqtt.host)
        else:
            log.warning("plain MQTT to %s because mqtt.insecure is set: events travel unencrypted", mqtt.host)
        self.publisher.subscribe(self.door.topics.commands, self._receive_command)
        self.publisher.start(mqtt.host, mqtt.port, mqtt.keepalive_s)
        self.publisher.set_state(self.door.gateway_status(online=True))
        for source in self.sources:
            source.start()
        for camera in self.cameras:
            camera.start()
        self.trusted.record_loaded(self.audit)
        next_health = time.monotonic()
        next_trust_check = time.monotonic() + TRUST_POLL_S
        try:
            while not stop.is_set():
                if self.publisher.fatal is not None:
                    raise self.publisher.fatal
                with contextlib.suppress(queue.Empty):
                    self.handle(self._inbox.get(timeout=0.2))
                self._store(self.door.tick(utc_now()))
                while not self._commands.empty():
                    self._handle_command(self._commands.get_nowait())
                if time.monotonic() >= next_trust_check:
                    self._reload_trusted()
                    next_trust_check = time.monotonic() + TRUST_POLL_S
                if time.monotonic() >= next_health:
                    self.publish_health()
                    next_health = time.monotonic() + self.config.health_interval_s
        finally:
            self.shutdown()

    def handle(self, item: SourceOutput | Event) -> None:
        """Take one source output through detector, door and outbox."""
        try:
            events = self._detect(item)
        except Exception:  # a detector bug must cost one reading, not the gateway
            log.exception("detector failed on %r; reading dropped", item)
            return
        if not events:
            return
        for event in events:
            log.info("event %s %s %s", event.type, event.source, dict(event.data))
        self.events_out += len(events)
        self._store([p for e in events for p in self.door.event(e)])

    def _store(self, publications: list[Publication]) -> None:
        """Into the durable outbox, then wake the publisher; each one is audited."""
        if not publications:
            return
        self.outbox.put(publications)
        replies = self.door.topics.command_results
        details: list[dict[str, JsonValue]] = [
            {
                "actor": p.actor,
                "topic": p.topic,
                "event_id": p.event_id,
                "event_type": "command.reply" if p.topic == replies else p.topic.rsplit("/", 1)[-1],
            }
            for p in publications
        ]
        self.audit.append_many(audit.PUBLICATION, details)
        self.publisher.notify()

    def _reload_trusted(self) -> None:
        """Swap in a changed policy or model once verified; a refused one leaves the running one."""
        replaced = self.trusted.poll(self.audit)
        if "policy" in replaced:
            self.door.policy = self.trusted.policy.value
        if "models" in replaced:
            models = self.trusted.models.value
            self.corrector.current = models.corrector
            if self.nowcaster is not None and models.nowcaster is not None:
                self.nowcaster.current = models.nowcaster
            if self.fall_model is not None and models.fall is not None:
                self.fall_model.current = models.fall

    def _detect(self, item: SourceOutput | Event) -> list[Event]:
        if isinstance(item, Event):  # decided inside a camera pipeline
            return [item]
        if isinstance(item, SourceStatus):
            return [status_event(item, "camera" if item.source in self._camera_ids else "sensor")]
        if "humidity" in item.values:
            self._latest_humidity[item.source] = item
        return self.detectors[item.source].on_reading(item, self._humidity_for(item))

    def _humidity_for(self, reading: Reading) -> float | None:
        if "humidity" in reading.values:
            return reading.values["humidity"]
        paired = self._humidity_from.get(reading.source) or reading.source  # a node's own BME280
        latest = self._latest_humidity.get(paired) if paired else None
        if latest is None or reading.time - latest.time > self._humidity_max_age:
            return None
        return latest.values["humidity"]

    def publish_health(self) -> None:
        """Retained per-source health."""
        now = utc_now()
        for camera in self.cameras:
            self.publisher.set_state(self.door.source_health(camera.source.health(), now))
        for source in self.sources:
            self.publisher.set_state(self.door.source_health(source.health(), now))

    def shutdown(self) -> None:
        """Stop sources first, then hand what is left to the broker, then close the outbox."""
        for camera in self.cameras:
            camera.stop()
        for source in self.sources:
            source.stop()
        while not self._inbox.empty():
            self.handle(self._inbox.get_nowait())
        self.publish_health()
        self.publisher.stop(final_state=self.door.gateway_status(online=False))
        self.outbox.close()
        self.audit.close()


__all__ = ["BrokerRejected", "Gateway", "serial_spec"]
