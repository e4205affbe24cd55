"""An operator's permission to go back a version: honoured once, for that version, on that gateway only.

It is checked like a remote configuration command (gateway/commands.py): the operator's signature,
the address, the age and a never-seen id; and then that it names exactly the version being installed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from packaging.version import Version

from gateway.commands import CommandRefused, SeenCommands
from gateway.config import GatewayConfig
from gateway.security.signing import generate_signing_key, load_private_key
from gateway.update.force import Permission, sign_force, verify_force

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ALLOW = Permission("beheer", "s", "g", "0.1.0", "c-1")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[GatewayConfig, Ed25519PrivateKey]:
    generate_signing_key(tmp_path / "beheer.pem", tmp_path / "beheer.pub.pem")
    config = GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1"},
            "storage": str(tmp_path),
            "trust": {"operators": {"beheer": str(tmp_path / "beheer.pub.pem")}},
        }
    )
    return config, load_private_key(tmp_path / "beheer.pem")


def test_a_signed_permission_allows_its_version(setup: tuple[GatewayConfig, Ed25519PrivateKey]) -> None:
    config, key = setup
    force = verify_force(sign_force(key, ALLOW, NOW), config, Version("0.1.0"), NOW, set())
    assert (force.operator, force.command_id, str(force.version)) == ("beheer", "c-1", "0.1.0")


@pytest.mark.parametrize(
    ("permission", "version", "now", "seen", "message"),
    [
        (ALLOW, "0.0.9", NOW, set(), "allows version 0.1.0, not 0.0.9"),
        (replace(ALLOW, gateway="other"), "0.1.0", NOW, set(), "for another gateway"),
        (replace(ALLOW, operator="stranger"), "0.1.0", NOW, set(), "is not trusted by this gateway"),
        (ALLOW, "0.1.0", NOW + timedelta(minutes=6), set(), "stale"),
        (ALLOW, "0.1.0", NOW, {"c-1"}, "replayed command id"),
    ],
)
def test_anything_else_is_refused(
    setup: tuple[GatewayConfig, Ed25519PrivateKey],
    permission: Permission,
    version: str,
    now: datetime,
    seen: set[str],
    message: str,
) -> None:
    config, key = setup
    with pytest.raises(CommandRefused, match=message):
        verify_force(sign_force(key, permission, NOW), config, Version(version), now, seen)


def test_a_changed_permission_fails_its_signature(setup: tuple[GatewayConfig, Ed25519PrivateKey]) -> None:
    config, key = setup
    body = json.loads(sign_force(key, ALLOW, NOW))
    body["allow_version"] = "0.0.1"
    with pytest.raises(CommandRefused, match="bad signature"):
        verify_force(json.dumps(body).encode(), config, Version("0.0.1"), NOW, set())
    with pytest.raises(CommandRefused, match="exactly the fields"):
        verify_force(b'{"set": {}}', config, Version("0.1.0"), NOW, set())


def test_a_used_permission_is_remembered(
    tmp_path: Path, setup: tuple[GatewayConfig, Ed25519PrivateKey]
) -> None:
    config, key = setup
    seen = SeenCommands(tmp_path / "seen.json")
    payload = sign_force(key, ALLOW, NOW)
    seen.add(verify_force(payload, config, Version("0.1.0"), NOW, seen).command_id)
    with pytest.raises(CommandRefused, match="replayed"):
        verify_force(payload, config, Version("0.1.0"), NOW, SeenCommands(tmp_path / "seen.json"))
