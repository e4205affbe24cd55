"""Prometheus metrics (prometheus-client), read from the running gateway's own counters when scraped.

Nothing on the data path calls into this module. A scrape reads each source's health, the sensor
pipeline's reading counts, the outbox's backlog, the privacy door's per-actor counts and the
publisher's connection; inference times arrive through the runner's observer hook, the one place
every ONNX model runs. Served on `metrics.listen` by prometheus-client's HTTP server in a thread of
its own, started and stopped around the gateway by `gateway.service.run`. Off unless configured;
an address that cannot be bound is logged once and the gateway runs on without metrics.

The broker's state follows Home Assistant's MQTT client: connected; retrying after a transient
failure (refused, timeout, TLS, name: `broker_failed_attempts` > 0); or rejected for good
(credentials, authorisation: `broker_rejected` 1, no more attempts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.config import MetricsConfig
from gateway.inference.runner import INFERENCE_OBSERVERS
from gateway.messages import utc_now
from gateway.shipped import distribution_version

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)

NS = "edge_gateway"
# From a 16 µs tree ensemble to a pose model on one core of a Pi (tens of milliseconds).
INFERENCE_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0)
SOURCE = ["source", "kind"]


# Per-source counters of the published source health: (metric, help, SourceHealth field).
SOURCE_COUNTERS = (
    ("source_frames", "Valid frames: serial frames decoded, camera frames read", "frames_ok"),
    ("source_bad_frames", "Garbled serial frames; failed camera reads", "bad_frames"),
    ("source_timeouts", "Silences that made the source offline (cameras: stalls)", "timeouts"),
    ("source_reconnects", "Times the source was reopened", "reconnects"),
)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{NS}_{name}", doc, value=value)


def _counted(name: str, doc: str, labels: list[str], counts: Mapping[Any, int]) -> CounterMetricFamily:
    """A counter family from a tally that another thread may be adding to (copied first)."""
    family = CounterMetricFamily(f"{NS}_{name}", doc, labels=labels)
    for key, count in sorted(dict(counts).items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], count)
    return family


class GatewayCollector(Collector):
    """Everything but inference times, read from the gateway at each scrape."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[Metric]:
        """The metric families, now."""
        config = self._gateway.config
        info = GaugeMetricFamily(f"{NS}_info", "This gateway", labels=["site", "gateway", "version"])
        info.add_metric([config.site, config.gateway, distribution_version()], 1)
        yield info
        yield from self._sources()
        yield from self._outbox()
        yield from self._door()
        yield from self._broker()

    def _sources(self) -> Iterator[Metric]:
        gateway = self._gateway
        cameras = [c.source.counters() for c in gateway.cameras]
        camera_ids = {c.source for c in cameras}
        up = GaugeMetricFamily(
            f"{NS}_source_up", "1 while the source delivers, 0 while offline", labels=SOURCE
        )
        age = GaugeMetricFamily(
            f"{NS}_source_last_reading_age_seconds", "Since the last reading or frame", labels=SOURCE
        )
        counters = {
            field: CounterMetricFamily(f"{NS}_{n}", doc, labels=SOURCE) for n, doc, field in SOURCE_COUNTERS
        }
        now = utc_now()
        for health in [c.source.health() for c in gateway.cameras] + gateway.sensors.health():
            labels = [health.source, "camera" if health.source in camera_ids else "sensor"]
            up.add_metric(labels, int(health.online))
            for field, family in counters.items():
                family.add_metric(labels, getattr(health, field))
            if health.last_reading is not None:
                age.add_metric(labels, max(0.0, (now - health.last_reading).total_seconds()))
        yield from (up, age, *counters.values())
        yield _counted(
            "readings", "Valid sensor readings handed to the detectors", ["source"], gateway.sensors.readings
        )
        analysed = {c.source: c.frames_analysed for c in cameras}
        yield _counted("camera_frames_analysed", "Camera frames analysed", ["source"], analysed)
        skipped = {c.source: c.frames_dropped for c in cameras}
        yield _counted(
            "camera_frames_dropped", "Camera frames skipped to keep the analysis rate", ["source"], skipped
        )

    def _outbox(self) -> Iterator[Metric]:
        outbox = self._gateway.outbox
        depth, oldest = outbox.backlog()
        yield _gauge("outbox_depth", "Publications waiting for the broker's PUBACK (on disk or held)", depth)
        yield _gauge(
            "outbox_oldest_age_seconds", "Age of the oldest waiting publication (0: none)", oldest or 0.0
        )
        yield CounterMetricFamily(
            f"{NS}_outbox_dropped", "Publications lost because the disk stayed full", value=outbox.dropped
        )

    def _door(self) -> Iterator[Metric]:
        door = self._gateway.door
        yield _counted("events", "Event messages the privacy door let out", ["actor", "type"], door.published)
        yield _counted("events_withheld", "Events no actor is granted", ["type"], door.withheld)
        yield _counted(
            "fields_dropped", "Data fields the policy kept from an actor", ["actor", "field"], door.dropped
        )

    def _broker(self) -> Iterator[Metric]:
        publisher = self._gateway.publisher
        yield _gauge(
            "broker_connected", "1 while connected to the broker (CONNACK received)", int(publisher.connected)
        )
        yield _gauge(
            "broker_rejected",
            "1 once the broker refused this gateway for good: no retry",
            int(publisher.fatal is not None),
        )
        yield _gauge(
            "broker_failed_attempts", "Failed connection attempts in a row", publisher.reach.failures
        )
        yield CounterMetricFamily(
            f"{NS}_broker_acked", "Publications the broker acknowledged", value=publisher.acked
        )


class MetricsServer:
    """One gateway's /metrics endpoint: its own registry, served in prometheus-client's thread."""

    def __init__(self, gateway: Gateway, config: MetricsConfig) -> None:
        """Bind and serve (OSError if the address cannot be bound)."""
        self.registry = CollectorRegistry()
        self.registry.register(GatewayCollector(gateway))
        ProcessCollector(registry=self.registry)  # CPU seconds, resident memory, open files
        self._inference = Histogram(
            f"{NS}_inference_seconds",
            "Time one ONNX inference takes, per model",
            ["model"],
            registry=self.registry,
            buckets=INFERENCE_BUCKETS,
        )
        self._by_model: dict[str, Histogram] = {}
        host, port = config.address
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        INFERENCE_OBSERVERS.append(self._observe)

    @property
    def port(self) -> int:
        """The bound port (the one picked when the config said 0)."""
        return int(self._server.server_address[1])

    def _observe(self, model: str, seconds: float) -> None:
        child = self._by_model.get(model)
        if child is None:  # labels() takes a lock and builds a key: once per model, not per inference
            child = self._by_model[model] = self._inference.labels(model)
        child.observe(seconds)

    def close(self) -> None:
        """Stop serving and timing."""
        INFERENCE_OBSERVERS.remove(self._observe)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(1.0)


def serve(gateway: Gateway) -> MetricsServer | None:
    """The endpoint the config asks for; None when it asks for none or its address cannot be bound."""
    config = gateway.config.metrics
    if config is None:
        return None
    try:
        server = MetricsServer(gateway, config)
    except OSError as exc:
        log.error(
            "metrics: cannot listen on %s (%s); running without metrics", config.listen, exc.strerror or exc
        )
        return None
    log.info("metrics: serving http://%s:%d/metrics", config.address[0], server.port)
    return server
