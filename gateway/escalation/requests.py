"""The two signed messages an actor sends about an escalation, checked field by field.

A request, on `<prefix>/v1/<site>/<gateway>/escalation/<actor>/request` (only that actor may write
there), signed with that actor's Ed25519 key (`trust.actors`) like an operator's command::

    {"request_id": "r-1", "actor": "ambulance", "site": "...", "gateway": "...", "camera": "hall",
     "event_id": "<the id of the event as this actor received it>", "duration_s": 120,
     "issued": "2026-11-27T10:00:00Z", "signature": "<base64>"}

A co-signature, on `.../escalation/<actor>/cosign`, by the actor the policy names in `co_sign`::

    {"request_id": "r-1", "actor": "gemeente", "requester": "ambulance", "site": "...",
     "gateway": "...", "issued": "...", "signature": "<base64>"}

What a request asks for (which event, which camera, how long, whether the policy allows it) is the
desk's to judge; here: size, shape, types, the sender, the signature, this gateway, the clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.security.signed_message import SignedMessageRefused, check_issued, verify_signed

MAX_MESSAGE = 4 * 1024  # a request is a few hundred bytes
REQUEST_FIELDS = frozenset(
    {"request_id", "actor", "site", "gateway", "camera", "event_id", "duration_s", "issued", "signature"}
)
COSIGN_FIELDS = frozenset({"request_id", "actor", "requester", "site", "gateway", "issued", "signature"})
REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_FIELD = 128


class Refused(ValueError):
    """Why an escalation message changed nothing (answered to its sender and audited)."""


@dataclass(frozen=True, slots=True)
class Request:
    """A verified request: this actor asks for this camera's feed after this event, for so long."""

    request_id: str
    actor: str
    camera: str
    event_id: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class CoSign:
    """A verified co-signature of `requester`'s request `request_id` by `actor`."""

    request_id: str
    actor: str
    requester: str


def request_id_of(payload: bytes) -> str:
    """The request id of a message if it has a well-formed one, else "" (for answers to junk)."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return ""
    value = body.get("request_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and REQUEST_ID.fullmatch(value) else ""


def _parse(payload: bytes, fields: frozenset[str]) -> dict[str, Any]:
    if len(payload) > MAX_MESSAGE:
        raise Refused(f"message larger than {MAX_MESSAGE} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Refused("not a JSON message") from exc
    if not isinstance(body, dict) or set(body) != fields:
        raise Refused(f"a message has exactly the fields {sorted(fields)}")
    strings = fields - {"duration_s", "signature"}
    if not all(isinstance(body[k], str) and len(body[k]) <= MAX_FIELD for k in strings):
        raise Refused(f"message fields are strings of at most {MAX_FIELD} characters")
    if not REQUEST_ID.fullmatch(body["request_id"]):
        raise Refused("request_id is 1 to 64 letters, digits or _.:-")
    return body


def _check(body: Mapping[str, Any], sender: str, keys: Mapping[str, Path], here: tuple[str, str]) -> None:
    """The sender, its signature and this gateway (the clock is checked after the signature)."""
    if body["actor"] != sender:
        raise Refused(f"sent on {sender}'s topic but signed as {body['actor'][:32]!r}: wrong actor")
    try:
        verify_signed(body, keys.get(sender), f"actor {sender!r}")
    except SignedMessageRefused as exc:
        raise Refused(str(exc)) from exc
    if (body["site"], body["gateway"]) != here:
        raise Refused("the message is for another gateway")


def _fresh(body: Mapping[str, Any], now: datetime) -> None:
    try:
        check_issued(body["issued"], now)
    except SignedMessageRefused as exc:
        raise Refused(f"expired: {exc}") from exc


def verify_request(
    payload: bytes, sender: str, keys: Mapping[str, Path], here: tuple[str, str], now: datetime
) -> Request:
    """A request sent on `sender`'s topic, or Refused saying why not."""
    body = _parse(payload, REQUEST_FIELDS)
    duration = body["duration_s"]
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 < duration <= 3600:
        raise Refused("duration_s is a number of seconds above 0")
    _check(body, sender, keys, here)
    _fresh(body, now)
    return Request(body["request_id"], sender, body["camera"], body["event_id"], float(duration))


def verify_cosign(
    payload: bytes, sender: str, keys: Mapping[str, Path], here: tuple[str, str], now: datetime
) -> CoSign:
    """A co-signature sent on `sender`'s topic, or Refused saying why not."""
    body = _parse(payload, COSIGN_FIELDS)
    _check(body, sender, keys, here)
    _fresh(body, now)
    return CoSign(body["request_id"], sender, body["requester"])
