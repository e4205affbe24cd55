"""An operator's signed permission to install a version that is not newer (a downgrade, a reinstall).

Updates only go forward: an old release, though properly signed, may have the holes a newer one
fixed, so a stolen old bundle must not be a way back to them. Going back is a decision for an
operator, made the way remote configuration is (gateway/commands.py): a JSON command signed with an
operator's Ed25519 key listed in `trust.operators`, for this site and gateway, issued within 5
minutes, never used before, naming the one version it allows:

    {"command_id": "...", "operator": "beheer", "site": "...", "gateway": "...",
     "issued": "2026-11-27T10:00:00Z", "allow_version": "0.1.0", "signature": "<base64>"}

`edge-gateway allow-downgrade` writes one on the operator's machine; `edge-gateway update --force
FILE` presents it.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from packaging.version import InvalidVersion, Version

from gateway.commands import CommandRefused, authenticate, check_addressed, parse_command, sign_command
from gateway.config import GatewayConfig
from gateway.messages import utc_iso

FIELDS: Final = frozenset(
    {"command_id", "operator", "site", "gateway", "issued", "allow_version", "signature"}
)
SEEN_FILE: Final = "update_commands_seen.json"  # in storage: a used permission is never valid again


@dataclass(frozen=True, slots=True)
class Force:
    """A verified permission: who gave it, under which id."""

    command_id: str
    operator: str
    version: Version


@dataclass(frozen=True, slots=True)
class Permission:
    """What an operator allows: this version on this gateway, once (`command_id`)."""

    operator: str
    site: str
    gateway: str
    version: str
    command_id: str


def sign_force(key: Ed25519PrivateKey, permission: Permission, now: datetime) -> bytes:
    """The signed permission (operators' tool, tests); InvalidVersion for a version that is none."""
    Version(permission.version)  # here, rather than as a refusal on the gateway
    body = {
        "command_id": permission.command_id,
        "operator": permission.operator,
        "site": permission.site,
        "gateway": permission.gateway,
        "issued": utc_iso(now, "seconds"),
        "allow_version": permission.version,
    }
    return sign_command(body, key)


def verify_force(
    payload: bytes, config: GatewayConfig, version: Version, now: datetime, seen: Container[str]
) -> Force:
    """The permission `payload` gives for installing `version`, or CommandRefused saying why it gives none."""
    body = parse_command(payload, FIELDS)
    authenticate(body, config.trust.operators)
    check_addressed(body, config, now, seen)
    try:
        allowed = Version(body["allow_version"])
    except InvalidVersion as exc:
        raise CommandRefused(f"allow_version {body['allow_version'][:40]!r} is not a version") from exc
    if allowed != version:
        raise CommandRefused(f"the signed permission allows version {allowed}, not {version}")
    return Force(body["command_id"], body["operator"], allowed)


def seen_path(storage: Path) -> Path:
    """Where used permissions are remembered."""
    return storage / SEEN_FILE
