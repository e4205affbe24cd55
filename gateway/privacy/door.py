"""The only door out of a gateway: the one place that turns events into Publications.

Every outbound event message is a projection of an event for one actor under the privacy
policy (an allow-list): `<prefix>/v1/<actor>/<site>/<gateway>/events/<type>`. Nothing else in
the gateway may construct a `Publication`, and no frame, image or byte string can pass a
projection (see projection.check_json), so raw data has no path out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.config import GatewayConfig
from gateway.messages import Event, JsonValue, Publication, SourceHealth, dump_json, new_event_id
from gateway.privacy.aggregate import Aggregator
from gateway.privacy.discovery import Discovery, Inventory
from gateway.privacy.feed import check_feed
from gateway.privacy.policy import Policy
from gateway.privacy.projection import Location, locations, project
from gateway.shipped import distribution_version
from gateway.topics import Topics

COMMAND_REPLY = "command.reply"  # audit name of an answer to an operator's command
ESCALATION_FEED = "escalation.feed"  # audit name of one message of a break-glass feed
ESCALATION_REPLY = "escalation.reply"  # audit name of an answer about an escalation
FEEDBACK_REPLY = "feedback.reply"  # audit name of an answer to an actor's mark
OPERATOR_REPORT = "operator.report"  # audit name of a report to operators (counts, comparisons)


class Door:
    """Projects events for actors, and health for the gateway's own namespace."""

    def __init__(
        self,
        topics: Topics,
        policy: Policy,
        locations: Mapping[str, Location],
        time_scale: float = 1.0,
        inventory: Inventory | None = None,
    ) -> None:
        self.topics = topics
        self.policy = policy
        self._locations = locations
        self._default_location = locations.get("", Location())
        self._envelope: dict[str, JsonValue] = {"site": topics.site, "gateway": topics.gateway}
        self._aggregator = Aggregator(time_scale)
        self.dropped: Counter[tuple[str, str]] = Counter()  # (actor, field) not granted
        self.withheld: Counter[str] = Counter()  # event types no actor is granted
        self.published: Counter[tuple[str, str]] = Counter()  # (actor, event type) let out
        self._discovery = Discovery(topics, inventory or Inventory(), distribution_version())
        self._announced: dict[str, bytes] = {}  # discovery topic -> the config last let out

    @classmethod
    def of(cls, config: GatewayConfig, policy: Policy) -> Door:
        """The door of the gateway `config` describes."""
        topics = Topics(config.mqtt.prefix, config.site, config.gateway)
        return cls(topics, policy, locations(config), config.sim_time_scale, Inventory.of(config))

    def event(self, event: Event) -> list[Publication]:
        """The publications one event turns into now (aggregated grants publish on `tick`)."""
        grants = self.policy.grants_for(event.type)
        if not grants:
            self.withheld[event.type] += 1
        where = self._locations.get(event.source, self._default_location)
        out = []
        for actor, grant in grants:
            projection = project(event, actor, grant, self._envelope, where)
            for name in projection.dropped:
                self.dropped[(actor, name)] += 1
            if grant.aggregate is not None:
                self._aggregator.add(actor, grant, projection.body, event.time.timestamp())
            else:
                out.append(self._publication(event.id, actor, projection.body))
        return out

    def tick(self, now: datetime) -> list[Publication]:
        """Summaries of aggregation windows that have ended."""
        return [
            self._publication(body["id"], actor, body)
            for actor, body in self._aggregator.flush(now.timestamp())
        ]

    def _publication(self, event_id: str, actor: str, body: dict[str, Any]) -> Publication:
        topic = self.topics.actor_event(actor, body["type"])
        self.published[(actor, body["type"])] += 1
        return Publication(event_id, topic, dump_json(body), actor=actor, event_type=body["type"])

    def command_reply(self, command_id: str, status: str, detail: str) -> Publication:
        """The answer to an operator's command (operators only may read it)."""
        body = {"schema_version": 1, "command_id": command_id[:64], "status": status, "detail": detail[:500]}
        reply_id = command_id[:64] or f"refused-{new_event_id()}"
        return Publication(
            reply_id, self.topics.command_results, dump_json(body), actor="operator", event_type=COMMAND_REPLY
        )

    def escalation_feed(self, actor: str, body: Mapping[str, JsonValue]) -> Publication:
        """One message of an open escalation's feed, on the actor's own feed topic; FeedRefused unless
        it is numbers and booleans in the feed's shape (privacy/feed.py)."""
        check_feed(body)
        topic = self.topics.escalation_feed(actor)
        return Publication(new_event_id(), topic, dump_json(body), actor=actor, event_type=ESCALATION_FEED)

    def escalation_reply(self, actor: str, body: Mapping[str, JsonValue]) -> Publication:
        """An answer about an escalation, in the actor's own namespace (request ids and statuses only)."""
        topic = self.topics.escalation_reply(actor)
        payload = dump_json({"schema_version": 1, **body})
        return Publication(new_event_id(), topic, payload, actor=actor, event_type=ESCALATION_REPLY)

    def rollout_reply(self, command_id: str, status: str, detail: str) -> Publication:
        """The answer to an operator's rollout command (operators only may read it)."""
        reply = self.command_reply(command_id, status, detail)
        return Publication(
            reply.event_id,
            self.topics.rollout_results,
            reply.payload,
            actor="operator",
            event_type=COMMAND_REPLY,
        )

    def feedback_reply(self, actor: str, feedback_id: str, status: str, detail: str) -> Publication:
        """The answer to one actor's mark, in that actor's namespace: its own id and words, nothing else."""
        body = {
            "schema_version": 1,
            "feedback_id": feedback_id[:64],
            "status": status,
            "detail": detail[:300],
        }
        reply_id = f"feedback-{new_event_id()}"
        topic = self.topics.feedback_reply(actor)
        return Publication(reply_id, topic, dump_json(body), actor=actor, event_type=FEEDBACK_REPLY)

    def operator_report(
        self, report: str, body: Mapping[str, JsonValue], retain: bool = False
    ) -> Publication:
        """A report for operators only (feedback counts, shadow comparison, rollout state): no event data."""
        payload = dump_json({"schema_version": 1, "report": report, **body})
        topic = self.topics.operator(report)
        return Publication(
            f"{report}-{new_event_id()}", topic, payload, retain, actor="operator", event_type=OPERATOR_REPORT
        )

    def gateway_status(self, online: bool) -> Publication:
        """The gateway's retained availability (also used as the MQTT last will)."""
        return Publication(
            event_id="", topic=self.topics.status, payload=b"online" if online else b"offline", retain=True
        )

    def outbox_dropped(self, report: Mapping[str, JsonValue]) -> Publication:
        """The outbox's retained drop report (counts by class only: nothing of what was dropped)."""
        return Publication(
            event_id="", topic=self.topics.outbox_dropped, payload=dump_json(report), retain=True
        )

    def source_health(self, health: SourceHealth, now: datetime) -> Publication:
        """A source's retained health (counters only: no values, no readings)."""
        return Publication(
            event_id="",
            topic=self.topics.source_status(health.source),
            payload=dump_json(health.to_json(now)),
            retain=True,
        )

    def discovery(self) -> list[Publication]:
        """Home Assistant discovery configs (retained) that changed since the last call, under the
        current policy; an empty retained message removes an entity an actor may no longer see."""
        wanted = {topic: dump_json(body) for topic, body in self._discovery.configs(self.policy).items()}
        gone = [topic for topic in self._announced if topic not in wanted]
        changed = [(topic, body) for topic, body in wanted.items() if self._announced.get(topic) != body]
        self._announced = wanted
        return [Publication("", topic, body, retain=True) for topic, body in changed] + [
            Publication("", topic, b"", retain=True) for topic in gone
        ]
