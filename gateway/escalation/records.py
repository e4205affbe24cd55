"""What the escalation desk keeps in memory: recent events, requests awaiting co-signature, open feeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.escalation.requests import Request

REQUEST, COSIGN = "request", "cosign"  # the two kinds of message an actor sends


@dataclass
class Trigger:
    """A recent event that allows escalations: where (None: the whole site), when, and under which id
    each actor that may escalate received it."""

    type: str
    camera: str | None
    at: float
    ids: dict[str, str]


@dataclass
class Pending:
    """A request awaiting its co-signature."""

    request: Request
    co_signer: str
    duration_s: float
    deadline: float


@dataclass
class Opened:
    """An open escalation and what it has sent so far."""

    number: int
    actor: str
    camera: str
    request_id: str
    co_signed_by: str | None
    opened: float
    until: float
    interval_s: float
    messages: int = 0
    people: int = 0
    fields: set[str] = field(default_factory=set)
    numbers: dict[int, int] = field(default_factory=dict)  # track -> person number in this feed
    due: float = 0.0

    @property
    def automatic(self) -> bool:
        """Opened by the policy on an event, not by a request."""
        return self.request_id == ""
