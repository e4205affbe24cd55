"""Policy keys for break-glass escalations: who may see a derived live feed of a camera, when, how long.

An actor's `escalation` entry lets it ask, after an event it received of one of `events`, for a
short live feed of that camera: pose keypoints per person, whether they move, whether someone else
is there; never pixels. The policy caps the length (`max_s`, at most MAX_ESCALATION_S), may demand
a co-signature by a second actor within `co_sign_within_s`, and may open a short one on its own
(`auto_on`, `auto_s`) for at most one actor. gateway/escalation/ enforces it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.yamlfile import Strict

MAX_ESCALATION_S = 300.0  # the ceiling: "for a few minutes ... at most 5"
TRIGGERS = ("fall.confirmed", "flood.alarm")  # life-safety events that may open an escalation
Trigger = Literal["fall.confirmed", "flood.alarm"]
PeerName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class Escalation(Strict):
    """One actor's right to open a short, derived live feed of a camera after a life-safety event."""

    events: list[Trigger] = Field(min_length=1, description="Events after which a request may be made")
    max_s: float = Field(gt=0, le=MAX_ESCALATION_S, description="Longest escalation, in seconds (<= 300)")
    request_within_s: float = Field(
        600.0, gt=0, le=3600, description="A request must come this soon after the event it names"
    )
    co_sign: PeerName | None = Field(None, description="Actor that must co-sign each request (dual control)")
    co_sign_within_s: float = Field(60.0, gt=0, le=600, description="Deadline for the co-signature")
    auto_on: list[Literal["fall.confirmed"]] = Field(
        default_factory=list, description="Events that open an escalation by themselves (one actor only)"
    )
    auto_s: float = Field(60.0, gt=0, le=MAX_ESCALATION_S, description="Length of an automatic escalation")
    interval_s: float = Field(0.5, ge=0.2, le=5.0, description="One feed message per person set this often")

    @model_validator(mode="after")
    def _consistent(self) -> Escalation:
        if not set(self.auto_on) <= set(self.events):
            raise ValueError("auto_on names events that are not in events")
        if self.auto_on and self.auto_s > self.max_s:
            raise ValueError("auto_s is longer than max_s")
        return self
