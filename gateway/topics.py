"""Every MQTT topic the gateway uses is built here, and only here."""

from __future__ import annotations

from dataclasses import dataclass

API_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one gateway: `<prefix>/v1/<site>/<gateway>/...` and per actor."""

    prefix: str
    site: str
    gateway: str

    @property
    def base(self) -> str:
        """The gateway's own namespace."""
        return f"{self.prefix}/{API_VERSION}/{self.site}/{self.gateway}"

    def actor_event(self, actor: str, event_type: str) -> str:
        """Where one actor's projection of events of one type is published (QoS 1)."""
        return f"{self.prefix}/{API_VERSION}/{actor}/{self.site}/{self.gateway}/events/{event_type}"

    @property
    def commands(self) -> str:
        """Where operators send this gateway remote configuration commands."""
        return f"{self.base}/commands/config"

    @property
    def command_results(self) -> str:
        """Where the gateway answers commands."""
        return f"{self.base}/replies/config"

    @property
    def status(self) -> str:
        """Retained `online`/`offline`, with a last will."""
        return f"{self.base}/status"

    @property
    def outbox_dropped(self) -> str:
        """Retained counts of what the outbox had to drop, per class."""
        return f"{self.base}/outbox/dropped"

    def source_status(self, source: str) -> str:
        """Retained health of one source."""
        return f"{self.base}/sources/{source}/status"

    def actor_events(self, actor: str) -> str:
        """A filter for every event type one actor receives from this gateway."""
        return self.actor_event(actor, "+")

    @property
    def node_id(self) -> str:
        """This gateway in Home Assistant discovery topics (site and gateway slugs; the ACL generator
        refuses two gateways whose node ids are equal)."""
        return f"{self.site}__{self.gateway}"

    def discovery(self, actor: str, discovery_prefix: str, component: str, object_id: str) -> str:
        """Where one Home Assistant entity's retained config is published, in the actor's namespace:
        `<prefix>/v1/<actor>/<discovery_prefix>/<component>/<node_id>/<object_id>/config`."""
        root = f"{self.prefix}/{API_VERSION}/{actor}/{discovery_prefix}"
        return f"{root}/{component}/{self.node_id}/{object_id}/config"

    def escalation_request(self, actor: str) -> str:
        """Where one actor asks this gateway for an escalation (only that actor may write it)."""
        return f"{self.base}/escalation/{actor}/request"

    def escalation_cosign(self, actor: str) -> str:
        """Where one actor co-signs another's escalation request (only that actor may write it)."""
        return f"{self.base}/escalation/{actor}/cosign"

    def escalation_reply(self, actor: str) -> str:
        """Answers about escalations, in the actor's own namespace."""
        return self.actor_namespace(actor, "replies/escalation")

    def escalation_feed(self, actor: str) -> str:
        """The derived live feed of an open escalation, in the actor's own namespace."""
        return self.actor_namespace(actor, "escalation/feed")

    def actor_namespace(self, actor: str, rest: str) -> str:
        """`<prefix>/v1/<actor>/<site>/<gateway>/<rest>`: what only that actor (and operators) read."""
        return f"{self.prefix}/{API_VERSION}/{actor}/{self.site}/{self.gateway}/{rest}"

    def feedback(self, actor: str) -> str:
        """Where one actor marks events it received as true or false alarms (only it may write)."""
        return f"{self.base}/feedback/{actor}"

    def feedback_reply(self, actor: str) -> str:
        """Where the gateway answers one actor's marks (inside that actor's own namespace)."""
        return f"{self.prefix}/{API_VERSION}/{actor}/{self.site}/{self.gateway}/replies/feedback"

    @property
    def rollout_commands(self) -> str:
        """Where operators promote, roll back or discard a rollout bundle."""
        return f"{self.base}/commands/rollout"

    @property
    def rollout_results(self) -> str:
        """Where the gateway answers rollout commands."""
        return f"{self.base}/replies/rollout"

    def operator(self, report: str) -> str:
        """Operator-only reports: `feedback` counts, `shadow` comparisons, `rollout` state and notices."""
        return f"{self.base}/operator/{report}"
