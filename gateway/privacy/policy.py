"""The privacy policy: which actor gets which derived data, for which purpose, how coarse.

An allow-list: an actor receives only the event types its grants name, only the data fields
they name, at the time and location resolution they allow. Anything not named is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gateway.events import matching_types
from gateway.privacy.escalation_policy import Escalation
from gateway.yamlfile import Strict, load_yaml_model
from gateway.yamlwords import worded

ACTOR_WORDS = "lowercase letters, digits, - and _, at most 32, starting with a letter"
ActorName = Annotated[str, Field(pattern=worded(r"^[a-z][a-z0-9_-]{0,31}$", ACTOR_WORDS))]
DEFAULT_POLICY = Path(__file__).with_name("default_policy.yaml")

# Envelope fields an actor may be granted besides `data`; id, type, actor, time are always present.
OPTIONAL_ENVELOPE = ("site", "gateway", "source", "quality", "model")


class Aggregate(Strict):
    """Publish one summary per window and location instead of each event."""

    window_s: float = Field(gt=0, description="Window length; windows align to the clock")
    min_count: int = Field(1, ge=1, description="Publish a window only with at least this many events")


class Grant(Strict):
    """Some event types for one actor, and how much of them it may see."""

    events: list[str] = Field(min_length=1, description="Event types or patterns such as air.*")
    fields: list[str] = Field(default_factory=list, description="Data fields passed on; others dropped")
    include: list[Literal["site", "gateway", "source", "quality", "model"]] = Field(default_factory=list)
    round: dict[str, float] = Field(default_factory=dict, description="Numeric field -> rounding step")
    time_round_s: int = Field(1, ge=1, description="Event time rounded down to this many whole seconds")
    location: Literal["none", "zone", "grid", "exact"] = Field("none")
    grid_m: float = Field(500.0, ge=10.0, description="Grid cell size for location: grid")
    aggregate: Aggregate | None = None

    @field_validator("events")
    @classmethod
    def _known_events(cls, patterns: list[str]) -> list[str]:
        unknown = [p for p in patterns if not matching_types(p)]
        if unknown:
            raise ValueError(f"no known event type matches {', '.join(unknown)}")
        return patterns

    @model_validator(mode="after")
    def _rounding_names_fields(self) -> Grant:
        stray = sorted(set(self.round) - set(self.fields))
        if stray:
            raise ValueError(f"round names fields that are not granted: {', '.join(stray)}")
        if any(step <= 0 for step in self.round.values()):
            raise ValueError("rounding steps must be positive")
        return self


class HomeAssistant(Strict):
    """Home Assistant MQTT discovery for one actor: off unless `discovery: true`.

    Here, not in a gateway's config, because turning it on lets the actor read every gateway's
    `online`/`offline` status (the entities' availability): an access decision, taken once for
    the whole network in the signed policy, from which the broker ACL is generated too.
    """

    discovery: bool = Field(False, description="Publish retained discovery configs for this actor")
    discovery_prefix: str = Field(
        "homeassistant",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="One topic level under the actor's own namespace: <prefix>/v1/<actor>/<this>",
    )


class Actor(Strict):
    """One party served by the network, bound to a purpose."""

    purpose: str = Field(min_length=10, description="Why this actor receives anything (GDPR art. 5(1)(b))")
    legal_basis: str = Field("", description="The legal basis, for the register")
    retention_days: int = Field(30, ge=0, le=3650, description="How long the actor may keep the data")
    grants: list[Grant] = Field(default_factory=list)
    home_assistant: HomeAssistant = Field(default_factory=HomeAssistant)
    escalation: Escalation | None = Field(
        None, description="Break-glass live derived feed (escalation_policy.py)"
    )


class Policy(Strict):
    """The whole policy file."""

    version: str = Field(min_length=1, description="Policy version, reported in the register and audit log")
    actors: dict[ActorName, Actor]

    @model_validator(mode="after")
    def _escalations_valid(self) -> Policy:
        check_escalations(self)
        return self

    def grants_for(self, event_type: str) -> list[tuple[str, Grant]]:
        """(actor, grant) pairs that let `event_type` out; at most one grant per actor (the first)."""
        out: list[tuple[str, Grant]] = []
        for name, actor in self.actors.items():
            for grant in actor.grants:
                if any(event_type in matching_types(p) for p in grant.events):
                    out.append((name, grant))
                    break
        return out

    def grant_of(self, actor: str, event_type: str) -> Grant | None:
        """The grant that lets `event_type` out to `actor` (the first that names it), if any."""
        return next((g for a, g in self.grants_for(event_type) if a == actor), None)

    def discovery_prefixes(self) -> dict[str, str]:
        """Actor -> Home Assistant discovery prefix, for the actors that asked for discovery."""
        return {
            n: a.home_assistant.discovery_prefix for n, a in self.actors.items() if a.home_assistant.discovery
        }


def check_escalations(policy: Policy) -> None:
    """ValueError unless each escalation names events its actor receives and a co-signer that is
    another actor, and at most one actor escalates automatically."""
    for name, actor in policy.actors.items():
        if actor.escalation is None:
            continue
        missing = [e for e in actor.escalation.events if policy.grant_of(name, e) is None]
        if missing:
            raise ValueError(f"{name}: escalation after events it is not granted: {', '.join(missing)}")
        peer = actor.escalation.co_sign
        if peer is not None and (peer == name or peer not in policy.actors):
            raise ValueError(f"{name}: escalation co_sign must name another actor of the policy, not {peer}")
    automatic = [n for n, a in policy.actors.items() if a.escalation is not None and a.escalation.auto_on]
    if len(automatic) > 1:
        raise ValueError(f"only one actor may escalate automatically, not {', '.join(automatic)}")


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a policy file (the shipped default when None); ConfigError on bad input."""
    return load_yaml_model(path or DEFAULT_POLICY, Policy)
