"""Health: each source's retained status, published at start, every `health_interval_s` and at stop."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.messages import SourceHealth, utc_now
from gateway.privacy.door import Door
from gateway.publish.mqtt import MqttPublisher


class HealthReporter:
    """Publishes retained per-source counters through the door's own namespace."""

    def __init__(
        self, publisher: MqttPublisher, door: Door, sources: Callable[[], list[SourceHealth]]
    ) -> None:
        self._publisher = publisher
        self._door = door
        self._sources = sources
        self._next = time.monotonic()

    def tick(self, interval_s: float) -> None:
        """Publish if the interval has passed since the last time."""
        if time.monotonic() >= self._next:
            self.publish()
            self._next = time.monotonic() + interval_s

    def publish(self) -> None:
        """Every source's retained status, now."""
        now = utc_now()
        for health in self._sources():
            self._publisher.set_state(self._door.source_health(health, now))
