"""The gateway config file: pydantic models, unknown keys forbidden, errors with line numbers.

The keys documented in the README are a public contract: they may grow, never break.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gateway.commissioning.settings import CommissioningConfig
from gateway.config_references import SensorRef, reference_problems
from gateway.config_references import summary as references_summary
from gateway.rollout.settings import RolloutConfig
from gateway.shipped import models_dir
from gateway.sources.protocols.node import NODE_SENSORS
from gateway.sources.protocols.registry import PROTOCOLS
from gateway.update.settings import UpdateConfig
from gateway.yamlfile import ConfigError, Strict, load_yaml_model
from gateway.yamlwords import worded

__all__ = ["ConfigError", "GatewayConfig", "SensorConfig", "load_config"]

# Names end up inside MQTT topics: no wildcards, no separators, nothing an ACL could trip on.
SLUG_WORDS = "lowercase letters, digits, - and _, at most 64, starting with a letter or digit"
Slug = Annotated[str, Field(pattern=worded(r"^[a-z0-9][a-z0-9_-]{0,63}$", SLUG_WORDS))]


Point = tuple[float, float]


class Zone(Strict):
    """A named area of a camera's view; x, y are fractions of the frame width and height (0..1)."""

    name: Slug
    polygon: list[Point] = Field(min_length=3)

    @field_validator("polygon")
    @classmethod
    def _inside_frame(cls, polygon: list[Point]) -> list[Point]:
        if not all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in polygon):
            raise ValueError("polygon points are fractions of the frame: 0 <= x, y <= 1")
        return polygon


class FallConfig(Strict):
    """Fall detection on one camera (events fall.detected, fall.confirmed, fall.recovered)."""

    enabled: bool = Field(True, description="Run the fall detector on this camera")
    confirm_s: float = Field(10.0, gt=0, le=600, description="Still down this long: fall.confirmed")
    person_model: str | None = Field(
        None,
        pattern=worded(
            r"^person/[A-Za-z0-9._-]+\.json$", "person/<name>.json: a manifest in the models directory"
        ),
        description="An ONNX person/pose model's manifest in the signed models directory "
        "(person/<name>.json); default: background subtraction",
    )


class CameraConfig(Strict):
    """One camera: analysed on this device; no pixel ever leaves it."""

    id: Slug = Field(description="Source id, unique per gateway")
    url: str = Field(
        min_length=1, description="/dev/videoN or an index, rtsp://, http(s):// (MJPEG) or a file"
    )
    fps: float = Field(10.0, gt=0, le=60, description="Analysis rate, whatever the camera delivers")
    zones: list[Zone] = Field(default_factory=list, description="Named areas reported with events")
    masks: list[list[Point]] = Field(default_factory=list, description="Polygons never analysed (privacy)")
    realtime: bool = Field(
        True, description="Files: play at their own frame rate (false: as fast as possible)"
    )
    fall: FallConfig = Field(default_factory=FallConfig)

    @field_validator("masks")
    @classmethod
    def _masks_inside_frame(cls, masks: list[list[Point]]) -> list[list[Point]]:
        for mask in masks:
            if len(mask) < 3 or not all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in mask):
                raise ValueError("a mask is a polygon of at least 3 points, fractions of the frame (0..1)")
        return masks


class TlsConfig(Strict):
    """Mutual TLS: the broker's CA, and this device's certificate and key (`edge-gateway provision`)."""

    ca: Path = Field(description="CA certificate that signed the broker's certificate")
    cert: Path = Field(description="This gateway's client certificate (CN gw.<site>.<gateway>)")
    key: Path = Field(description="This gateway's private key")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (traffic never leaves it)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MqttConfig(Strict):
    """Broker connection (MQTT 5). Secure by default: a remote broker needs `tls` (or `insecure: true`)."""

    host: str = Field(description="Broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="Broker TCP port")
    prefix: str = Field(
        "city",
        pattern=worded(
            r"^[a-z0-9][a-z0-9_-]*$", "lowercase letters, digits, - and _, starting with a letter or digit"
        ),
        description="First topic level",
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive")
    client_id: str | None = Field(None, description="Stable client id; default <site>-<gateway>")
    tls: TlsConfig | None = Field(None, description="Mutual TLS settings")
    insecure: bool = Field(False, description="Allow plain MQTT to a remote broker (never in production)")

    @model_validator(mode="after")
    def _secure_by_default(self) -> MqttConfig:
        if self.tls is None and not self.insecure and not is_loopback(self.host):
            raise ValueError(
                f"plain MQTT to the remote broker {self.host!r} is refused: configure mqtt.tls "
                "(see `edge-gateway provision`) or, for a test network only, set mqtt.insecure: true"
            )
        return self


class LocationConfig(Strict):
    """Where a gateway or sensor is; the policy decides how much of it an actor sees."""

    zone: str | None = Field(None, min_length=1, max_length=64, description="Area name, e.g. a neighbourhood")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS84 latitude")
    lon: float | None = Field(None, ge=-180, le=180, description="WGS84 longitude")

    @model_validator(mode="after")
    def _both_coordinates(self) -> LocationConfig:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class FloodLevels(Strict):
    """Water depths [mm above the dry reference] that matter at this spot."""

    watch: float = Field(gt=0)
    warning: float = Field(gt=0)
    alarm: float = Field(gt=0)

    @model_validator(mode="after")
    def _ascending(self) -> FloodLevels:
        if not self.watch < self.warning < self.alarm:
            raise ValueError("levels must rise: watch < warning < alarm")
        return self


class SensorConfig(Strict):
    """One serial sensor."""

    id: Slug = Field(description="Source id, unique per gateway; appears in topics and events")
    type: str = Field(description="Driver: one of the registered protocol types")
    port: str = Field(min_length=1, description="Device path or any pyserial URL")
    mode: Literal["active", "query", "passive"] = Field(
        "active", description="active: sensor streams; query/passive: gateway polls"
    )
    working_period_min: int = Field(0, ge=0, le=30, description="SDS011 duty cycle, 0 = continuous")
    poll_s: float | None = Field(None, gt=0, description="Poll period override (s)")
    humidity_from: str | None = Field(None, description="Id of a sensor whose humidity corrects this one")
    warmup_s: float | None = Field(None, ge=0, description="Warm-up after (re)open; default per driver")
    offline_after_s: float | None = Field(None, gt=0, description="Silence before the sensor is offline")
    location: LocationConfig | None = Field(None, description="Overrides the gateway's location")
    mount_height_mm: float | None = Field(
        None, gt=0, le=10_000, description="Water-level sensors: height of the sensor above the dry reference"
    )
    levels: FloodLevels | None = Field(None, description="Water-level sensors: depths that raise events")
    node_id: str | None = Field(
        None,
        pattern=worded(r"^[a-z0-9_-]{1,32}$", "1 to 32 lowercase letters, digits, - and _"),
        description="Sensor nodes: the id the node must report",
    )
    node_sensors: list[str] | None = Field(
        None, description="Sensor nodes: the sensors wired to it (as flashed), e.g. [pms5003, bme280]"
    )

    @model_validator(mode="after")
    def _water_level_settings(self) -> SensorConfig:
        required, allowed = self.type == "maxbotix", self.type in ("maxbotix", "node")
        given = self.mount_height_mm is not None or self.levels is not None
        if required and (self.mount_height_mm is None or self.levels is None):
            raise ValueError("a maxbotix sensor needs mount_height_mm and levels {watch, warning, alarm}")
        if given and not allowed:
            raise ValueError("mount_height_mm and levels apply to water-level sensors (maxbotix, node) only")
        if given and (self.mount_height_mm is None or self.levels is None):
            raise ValueError("give both mount_height_mm and levels for a node's level sensor")
        if (
            self.levels is not None
            and self.mount_height_mm is not None
            and self.levels.alarm >= self.mount_height_mm
        ):
            raise ValueError("the alarm depth must be below the sensor (less than mount_height_mm)")
        if self.node_id is not None and self.type != "node":
            raise ValueError("node_id applies to type: node only")
        return self._wired_node()

    def _wired_node(self) -> SensorConfig:
        wired = self.node_sensors
        if wired is None:
            return self
        if self.type != "node":
            raise ValueError("node_sensors applies to type: node only")
        unknown = sorted(set(wired) - set(NODE_SENSORS))
        if unknown or len(set(wired)) != len(wired):
            raise ValueError(
                f"node_sensors: each of {', '.join(NODE_SENSORS)} at most once"
                + (f", not {', '.join(unknown)}" if unknown else "")
            )
        if self.levels is not None and "maxbotix" not in wired:
            raise ValueError("levels need a water-level sensor: add maxbotix to node_sensors")
        return self

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PROTOCOLS:
            raise ValueError(f"unknown sensor type {value!r}; known types: {', '.join(sorted(PROTOCOLS))}")
        return value


class AirConfig(Strict):
    """Air-quality detector settings."""

    window_s: float = Field(300.0, gt=0, description="Rolling window for band decisions (s)")
    co2_levels_ppm: tuple[float, float] = Field((800.0, 1200.0), description="Ventilation levels")
    eaqi_table: Literal["2017", "2024"] = Field("2017", description="EEA EAQI breakpoint table")

    @field_validator("co2_levels_ppm")
    @classmethod
    def _ascending(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError("co2_levels_ppm must be two ascending positive levels, e.g. [800, 1200]")
        return value


class MetricsConfig(Strict):
    """Prometheus metrics over HTTP, off unless given (gateway/metrics.py)."""

    listen: str = Field(
        description="host:port to serve /metrics on, e.g. 127.0.0.1:9108 ([::1]:9108 for IPv6)"
    )

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("listen is host:port, e.g. 127.0.0.1:9108 (port 0: any free port)")
        return value

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to bind, IPv6 brackets removed."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


SHIPPED_MODELS = models_dir()  # inside the installed package (gateway/shipped.py)


class TrustConfig(Strict):
    """What signs the models and the policy this gateway accepts."""

    public_key: Path = Field(SHIPPED_MODELS / "release.pub.pem", description="Ed25519 public key (PEM)")
    models_dir: Path = Field(SHIPPED_MODELS, description="Directory with MANIFEST.json and the ONNX files")
    operators: dict[Slug, Path] = Field(
        default_factory=dict, description="Operator name -> Ed25519 public key that signs remote commands"
    )
    actors: dict[Slug, Path] = Field(
        default_factory=dict,
        description="Actor name -> Ed25519 public key that signs its break-glass requests and feedback marks",
    )


class LifeSafetyBound(Strict):
    """Falls, flood warnings and alarms: kept longest, dropped last (30 days: the responders' retention)."""

    max_mb: float = Field(64.0, gt=0, description="Most stored message bytes of this class (MB)")
    max_age_h: float = Field(720.0, gt=0, description="Older unsent messages of this class are dropped (h)")


class EventsBound(Strict):
    """Every event type that is neither life-safety nor telemetry."""

    max_mb: float = Field(256.0, gt=0, description="Most stored message bytes of this class (MB)")
    max_age_h: float = Field(168.0, gt=0, description="Older unsent messages of this class are dropped (h)")


class TelemetryBound(Strict):
    """Summaries and availability (air.summary, *.online, *.offline): dropped first."""

    max_mb: float = Field(64.0, gt=0, description="Most stored message bytes of this class (MB)")
    max_age_h: float = Field(48.0, gt=0, description="Older unsent messages of this class are dropped (h)")


class OutboxConfig(Strict):
    """What the outbox keeps while the broker is away, per class (docs/reliability.md)."""

    life_safety: LifeSafetyBound = Field(default_factory=LifeSafetyBound)
    events: EventsBound = Field(default_factory=EventsBound)
    telemetry: TelemetryBound = Field(default_factory=TelemetryBound)
    held_limit: int = Field(
        10_000, ge=1, le=1_000_000, description="Messages kept in memory while the disk refuses writes"
    )


class AuditConfig(Strict):
    """How much of the hash-chained audit log is kept: numbered segments, the oldest removed first."""

    segment_mb: float = Field(16.0, gt=0, description="Start a new segment past this size (MB)")
    keep_segments: int = Field(16, ge=1, description="Segments kept, the current one included")
    max_age_days: float = Field(
        365.0, gt=0, description="Older segments, and feedback rows, are deleted (retention, days)"
    )


class GatewayConfig(Strict):
    """The whole config file."""

    site: Slug
    gateway: Slug
    mqtt: MqttConfig
    storage: Path = Field(description="Directory for the outbox and state")
    location: LocationConfig = Field(default_factory=LocationConfig, description="Where the gateway is")
    policy: Path | None = Field(None, description="Privacy policy file; default: the shipped policy")
    trust: TrustConfig = Field(default_factory=TrustConfig)
    update: UpdateConfig = Field(
        default_factory=UpdateConfig, description="Signed updates (edge-gateway update)"
    )
    sensors: list[SensorConfig] = Field(default_factory=list)
    cameras: list[CameraConfig] = Field(default_factory=list)
    air: AirConfig = Field(default_factory=AirConfig)
    health_interval_s: float = Field(10.0, gt=0, description="How often source health is published")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="Bounds of the outbox")
    audit: AuditConfig = Field(default_factory=AuditConfig, description="Bounds of the audit log")
    sim_time_scale: float = Field(
        1.0, gt=0, le=10_000, description="Simulated sites only: scenario seconds per wall second"
    )
    commissioning: CommissioningConfig = Field(default_factory=CommissioningConfig)
    metrics: MetricsConfig | None = Field(None, description="Prometheus metrics endpoint; off when absent")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)

    @model_validator(mode="after")
    def _cross_references(self) -> GatewayConfig:
        sensors = [SensorRef(s.id, s.type, s.humidity_from) for s in self.sensors]
        problems = reference_problems(sensors, [c.id for c in self.cameras])
        if problems:
            raise ValueError(references_summary(problems))
        return self


def load_config(path: Path) -> GatewayConfig:
    """Parse and validate a config file, or raise ConfigError naming line, key and value.

    A relative `policy` path is taken relative to the config file.
    """
    config = load_yaml_model(path, GatewayConfig)
    if config.policy is not None and not config.policy.is_absolute():
        config = config.model_copy(update={"policy": path.parent / config.policy})
    tls = config.mqtt.tls
    if tls is not None:
        tls = TlsConfig(ca=path.parent / tls.ca, cert=path.parent / tls.cert, key=path.parent / tls.key)
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"tls": tls})})
    # Relative key and model paths are relative to the config file (an absolute one stays as it is).
    here, trust = path.parent, config.trust
    trust = trust.model_copy(
        update={
            "public_key": here / trust.public_key,
            "models_dir": here / trust.models_dir,
            "operators": {name: here / key for name, key in trust.operators.items()},
            "actors": {name: here / key for name, key in trust.actors.items()},
        }
    )
    return config.model_copy(update={"trust": trust})
