"""The only door out of a gateway: the one place that turns events into Publications.

Today every event goes, as a whole, to the gateway's own event topic. The privacy policy
(purpose-bound projections per actor) replaces the body of `Door.event` without changing
its callers: nothing else in the gateway may construct a `Publication`.
"""

from __future__ import annotations

import json
from datetime import datetime

from gateway.messages import Event, Publication, SourceHealth, dump_json, event_to_json
from gateway.topics import Topics


class Door:
    """Projects events and health into outbound messages."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def event(self, event: Event) -> list[Publication]:
        """The publications one event turns into."""
        body = event_to_json(event, self.topics.site, self.topics.gateway)
        return [Publication(event_id=event.id, topic=self.topics.event(event.type), payload=dump_json(body))]

    def gateway_status(self, online: bool) -> Publication:
        """The gateway's retained availability (also used as the MQTT last will)."""
        return Publication(
            event_id="", topic=self.topics.status, payload=b"online" if online else b"offline", retain=True
        )

    def source_health(self, health: SourceHealth, now: datetime) -> Publication:
        """A source's retained health."""
        return Publication(
            event_id="",
            topic=self.topics.source_status(health.source),
            payload=dump_json(health.to_json(now)),
            retain=True,
        )


def as_replay(publication: Publication) -> Publication:
    """The same event publication, marked as delivered late from the outbox (same id)."""
    body = json.loads(publication.payload)
    body["historical"] = True
    return Publication(publication.event_id, publication.topic, dump_json(body), publication.retain)
