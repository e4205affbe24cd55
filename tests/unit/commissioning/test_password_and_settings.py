"""The page's password hash and its config section: no default password, no page off loopback without one.

Scenarios: a hash verifies its password and no other, travels with its parameters, and is refused
when malformed or absurdly costly; `listen` takes IPv4 and IPv6 addresses of this device but not
names or the wildcard; a LAN address without a password is a config error that says what to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.commissioning import password
from gateway.commissioning.settings import CommissioningConfig
from gateway.config import ConfigError, load_config

CHEAP = 14  # the lowest cost allowed, to keep the tests fast


def test_a_hash_verifies_its_own_password_only() -> None:
    encoded = password.hash_password("correct horse battery", log2_n=CHEAP)
    assert encoded.startswith("$scrypt$ln=14,r=8,p=1$")
    stored = password.parse(encoded)
    assert password.verify("correct horse battery", stored)
    assert not password.verify("correct horse batterY", stored)
    assert password.parse(password.hash_password("correct horse battery", log2_n=CHEAP)).salt != stored.salt


def test_the_default_cost_is_owasps_minimum() -> None:
    assert (password.LOG2_N, password.BLOCK_SIZE, password.PARALLEL) == (17, 8, 1)


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 10 characters"):
        password.hash_password("short", log2_n=CHEAP)


@pytest.mark.parametrize(
    "encoded",
    [
        "hunter2",
        "$scrypt$ln=14,r=8,p=1$AAAA$BBBB",
        "$scrypt$ln=30,r=8,p=1$" + "A" * 22 + "$" + "B" * 43,  # a gigabyte-hungry typo
        "$argon2id$v=19$m=65536,t=3,p=4$" + "A" * 22 + "$" + "B" * 43,
    ],
)
def test_malformed_hashes_are_refused(encoded: str) -> None:
    with pytest.raises(ValueError):
        password.parse(encoded)


@pytest.mark.parametrize(
    ("listen", "address", "port"),
    [
        ("127.0.0.1:8099", "127.0.0.1", 8099),
        ("[::1]:9000", "::1", 9000),
        ("192.168.1.20:80", "192.168.1.20", 80),
    ],
)
def test_listen_addresses(listen: str, address: str, port: int) -> None:
    hashed = (
        None if address in ("127.0.0.1", "::1") else password.hash_password("a long password", log2_n=CHEAP)
    )
    settings = CommissioningConfig(enabled=True, listen=listen, password_hash=hashed)
    assert (str(settings.address), settings.port) == (address, port)


@pytest.mark.parametrize(
    ("listen", "reason"),
    [
        ("0.0.0.0:8099", "every interface"),
        ("[::]:8099", "every interface"),
        ("gateway.local:8099", "an IP address"),
        ("127.0.0.1", "ADDRESS:PORT"),
        ("127.0.0.1:0", "ADDRESS:PORT"),
        ("127.0.0.1:70000", "ADDRESS:PORT"),
    ],
)
def test_bad_listen_addresses_are_refused(listen: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        CommissioningConfig(listen=listen)


def test_the_page_is_off_by_default_on_loopback() -> None:
    settings = CommissioningConfig()
    assert not settings.enabled and settings.address.is_loopback and settings.password_hash is None


def test_a_lan_address_without_a_password_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "site: s\ngateway: g\nmqtt: {host: 127.0.0.1}\nstorage: /tmp/x\n"
        "commissioning:\n  enabled: true\n  listen: 192.168.1.20:8099\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (line,) = caught.value.errors
    assert line.startswith(f"{path}:5: commissioning: ")
    assert "needs a password" in line and "edge-gateway commissioning set-password" in line
    # Disabled, the same section is fine: nothing listens.
    path.write_text(path.read_text().replace("enabled: true", "enabled: false"), encoding="utf-8")
    assert not load_config(path).commissioning.enabled
