"""The sensors' pipeline: every serial sensor and node, from reading to event, in one place.

serial source -> reading -> humidity pairing -> the sensor's detector(s) -> events -> emit.
A node's readings are routed by what they measure (level -> flood, particulates/CO2 -> air);
a sensor without humidity of its own borrows its `humidity_from` partner's latest. Detection runs
in the sources' threads under one lock (readings arrive about once a second per sensor), and the
detectors' user-visible state is saved after each reading that changed it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from gateway.air.correction import PmCorrector
from gateway.air.detector import AirQualityDetector, AirQualitySettings
from gateway.config import GatewayConfig, SensorConfig
from gateway.events import status_event
from gateway.flood.detector import FloodDetector, FloodSettings
from gateway.flood.nowcast import Nowcaster
from gateway.inference.slots import Slot
from gateway.messages import Event, JsonValue, Reading, SourceHealth, SourceStatus
from gateway.sources.node_link import NodeLink
from gateway.sources.protocols.base import SensorOptions
from gateway.sources.protocols.registry import get_protocol
from gateway.sources.serial import SerialSource, SerialSpec, SourceOutput
from gateway.state import Snapshot, StateFile
from gateway.timescale import scale_durations

log = logging.getLogger(__name__)

HUMIDITY_MAX_AGE_S = 600.0  # an older paired humidity no longer describes the air
AIR_KEYS = frozenset({"pm1", "pm25", "pm10", "co2"})


class ReadingDetector(Protocol):
    """One sensor's detector: readings in, events out, its user-visible state saved and resumed."""

    def on_reading(self, reading: Reading, humidity: float | None = None) -> list[Event]:
        """The events this reading causes."""
        ...

    def snapshot(self) -> dict[str, JsonValue]:
        """The state worth keeping."""
        ...

    def restore(self, snapshot: Snapshot) -> None:
        """Resume from a snapshot."""
        ...


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


class ByKeys:
    """A sensor node's detectors: level readings to the flood detector, everything else to air quality."""

    def __init__(self, air: AirQualityDetector, flood: FloodDetector | None) -> None:
        self.air, self.flood = air, flood

    def on_reading(self, reading: Reading, humidity: float | None = None) -> list[Event]:
        """Route by the reading's keys (the node link sends one reading per sensor group)."""
        if "distance_mm" in reading.values or "no_target" in reading.flags:
            return [] if self.flood is None else self.flood.on_reading(reading, humidity)
        if not reading.values.keys() & AIR_KEYS:
            return []  # climate or rain only: used as a humidity source, no detector of its own yet
        return self.air.on_reading(reading, humidity)

    def snapshot(self) -> dict[str, JsonValue]:
        """Both detectors' state."""
        return {"air": self.air.snapshot(), "flood": None if self.flood is None else self.flood.snapshot()}

    def restore(self, snapshot: Snapshot) -> None:
        """Resume both detectors."""
        air, flood = snapshot.get("air"), snapshot.get("flood")
        if isinstance(air, dict):
            self.air.restore(air)
        if isinstance(flood, dict) and self.flood is not None:
            self.flood.restore(flood)


def air_settings(config: GatewayConfig) -> AirQualitySettings:
    """The air-quality settings of a config (scaled for a simulator)."""
    air = config.air
    settings = AirQualitySettings(
        window_s=air.window_s, co2_levels_ppm=air.co2_levels_ppm, eaqi_table=air.eaqi_table
    )
    return scale_durations(settings, 1.0 / config.sim_time_scale)


def reading_detectors(
    config: GatewayConfig,
    corrector: PmCorrector | Slot[PmCorrector],
    nowcaster: Nowcaster | Slot[Nowcaster] | None,
) -> dict[str, ReadingDetector]:
    """One detector per sensor: water level for sensors with levels, air quality otherwise; a node
    gets both, its readings routed by sensor group."""
    scale = 1.0 / config.sim_time_scale
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
            detectors[sensor.id] = ByKeys(
                AirQualityDetector(sensor.id, air_settings(config), corrector), flood
            )
        else:
            detectors[sensor.id] = flood or AirQualityDetector(sensor.id, air_settings(config), corrector)
    return detectors


class SensorPipeline:
    """Every configured sensor: sources -> detectors -> `emit`, state kept in `state`."""

    def __init__(
        self,
        config: GatewayConfig,
        corrector: PmCorrector | Slot[PmCorrector],
        nowcaster: Nowcaster | Slot[Nowcaster] | None,
        emit: Callable[[Event], None],
        state: StateFile,
    ) -> None:
        self._corrector = corrector
        self._emit = emit
        self._state = state
        self._lock = threading.Lock()
        self.detectors = reading_detectors(config, corrector, nowcaster)
        for source, detector in self.detectors.items():
            state.restore(source, detector)
        self._humidity_from = {s.id: s.humidity_from for s in config.sensors}
        self._latest_humidity: dict[str, Reading] = {}
        self.latest: dict[str, dict[str, Reading]] = {}  # source -> value key -> newest reading with it
        self.readings: Counter[str] = Counter()  # valid readings per source, since start
        self._humidity_max_age = timedelta(seconds=HUMIDITY_MAX_AGE_S / config.sim_time_scale)
        self.sources = [
            SerialSource(serial_spec(s, config.sim_time_scale), self.on_output) for s in config.sensors
        ]

    def start(self) -> None:
        """Start every sensor's source."""
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        """Stop every sensor's source (their last outputs have been emitted when this returns)."""
        for source in self.sources:
            source.stop()

    def hung(self) -> list[str]:
        """The threads of sources whose loops are late (stuck)."""
        return [name for source in self.sources for name in source.hung()]

    def health(self) -> list[SourceHealth]:
        """Each source's counters."""
        return [source.health() for source in self.sources]

    def reconfigure(self, config: GatewayConfig) -> None:
        """Apply new air settings (what remote configuration may change): air detectors are rebuilt
        from their saved state; flood detectors and everything else are left as they are."""
        with self._lock:
            for source, detector in self.detectors.items():
                air = detector.air if isinstance(detector, ByKeys) else detector
                if not isinstance(air, AirQualityDetector):
                    continue
                new = AirQualityDetector(source, air_settings(config), self._corrector)
                new.restore(air.snapshot())
                if isinstance(detector, ByKeys):
                    detector.air = new
                else:
                    self.detectors[source] = new

    def on_output(self, item: SourceOutput) -> None:
        """From a source's thread: one output through its detector; events go to `emit`."""
        with self._lock:
            events = self._events(item)
        for event in events:
            self._emit(event)

    def _events(self, item: SourceOutput) -> list[Event]:
        if isinstance(item, Event):  # decided by a node's link (reboots, gaps)
            return [item]
        if isinstance(item, SourceStatus):
            return [status_event(item, "sensor")]
        self.readings[item.source] += 1
        if "humidity" in item.values:
            self._latest_humidity[item.source] = item
        self.latest.setdefault(item.source, {}).update(dict.fromkeys(item.values, item))
        detector = self.detectors[item.source]
        try:
            events = detector.on_reading(item, self._humidity_for(item))
        except Exception:  # a detector bug must cost one reading, not the gateway
            log.exception("detector failed on %r; reading dropped", item)
            return []
        self._state.save(item.source, detector)
        return events

    def _humidity_for(self, reading: Reading) -> float | None:
        if "humidity" in reading.values:
            return reading.values["humidity"]
        paired = self._humidity_from.get(reading.source) or reading.source  # a node's own BME280
        latest = self._latest_humidity.get(paired) if paired else None
        if latest is None or reading.time - latest.time > self._humidity_max_age:
            return None
        return latest.values["humidity"]
