"""Retained state besides the gateway's status: each source's health, published at start, every
`health_interval_s` and at stop; the outbox's drop report once anything was dropped, at once when an
episode starts or ends; and the Home Assistant discovery configs, at start and whenever the policy
changes what they say (picked up at the same pace: a reloaded policy needs no other hook)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.messages import SourceHealth, utc_now
from gateway.privacy.door import Door
from gateway.publish.mqtt import MqttPublisher


class HealthReporter:
    """Publishes retained per-source counters, and discovery configs, through the door."""

    def __init__(
        self, publisher: MqttPublisher, door: Door, sources: Callable[[], list[SourceHealth]]
    ) -> None:
        self._publisher = publisher
        self._door = door
        self._sources = sources
        self._next = time.monotonic()
        self._drops_said = 0  # the outbox drop report's version last published
        self._turns_said = 0  # and its episodes' starts and ends

    def tick(self, interval_s: float) -> None:
        """Publish if the interval has passed since the last time (a drop episode's start or end: now)."""
        if time.monotonic() >= self._next or self._publisher.outbox.drops.turns != self._turns_said:
            self.publish()
            self._next = time.monotonic() + interval_s

    def publish(self) -> None:
        """Every source's retained status, any discovery config that changed, and the outbox's drop
        report if it changed, now."""
        now = utc_now()
        for health in self._sources():
            self._publisher.set_state(self._door.source_health(health, now))
        for config in self._door.discovery():
            self._publisher.set_state(config)
        outbox = self._publisher.outbox
        drops = outbox.drops
        if drops.version != self._drops_said:
            self._drops_said, self._turns_said = drops.version, drops.turns
            self._publisher.set_state(self._door.outbox_dropped(outbox.report()))
