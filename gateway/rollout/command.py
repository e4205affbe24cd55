"""Operators' rollout commands: promote the shadow, roll the active back, or discard the shadow.

On `<prefix>/v1/<site>/<gateway>/commands/rollout`, signed like config commands (gateway/commands.py)
by an operator in `trust.operators`::

    {"command_id": "...", "operator": "beheer", "site": "...", "gateway": "...",
     "issued": "2026-11-27T10:00:00Z", "action": "promote", "version": "fall-2027.01-a",
     "signature": "<base64>"}

`version` names the bundle the operator means (the shadow's for promote and discard, the active's for
rollback): a command written against a state that has changed since is refused, not misapplied.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from gateway.signed_inbox import Refused, check_fresh, parse_signed, verify_signature

FIELDS: Final = frozenset(
    {"command_id", "operator", "site", "gateway", "issued", "action", "version", "signature"}
)
ACTIONS: Final = ("promote", "rollback", "discard")


@dataclass(frozen=True, slots=True)
class RolloutCommand:
    """A verified rollout command."""

    command_id: str
    operator: str
    action: str
    version: str


def verify_rollout_command(
    payload: bytes,
    operators: Mapping[str, Path],
    here: tuple[str, str],
    now: datetime,
    seen: Container[str],
) -> RolloutCommand:
    """The command in `payload`, or Refused saying why it does nothing."""
    body = parse_signed(payload, FIELDS)
    verify_signature(body, operators.get(body["operator"]), f"operator {body['operator']!r}")
    if (body["site"], body["gateway"]) != here:
        raise Refused("the command is for another gateway")
    check_fresh(body, now, seen, "command_id")
    if body["action"] not in ACTIONS:
        raise Refused(f"action is one of {', '.join(ACTIONS)}")
    return RolloutCommand(body["command_id"], body["operator"], body["action"], body["version"])
