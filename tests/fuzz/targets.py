"""Fuzz targets: every parser of outside bytes, each held to its documented contract.

A target takes one input (bytes) and returns, or raises: anything it raises is a crash. The same
targets run under atheris, coverage-guided (`make fuzz`, tests/fuzz/__main__.py), and under
hypothesis with a fixed seed and budget (`make test`, tests/unit/test_fuzz_targets.py); crashing
inputs found either way are kept in tests/fuzz/crashes/<target>/ and replayed as regression tests.

Contracts:
- sensor decoders (`StreamDecoder.feed`): never raise; return only Sample, Ack or FrameError; the
  same bytes give the same results however they are split (the first input byte picks the split);
  a node's decoded packets also pass through its NodeLink without raising.
- config and policy files: `load_config` / `load_policy` return or raise ConfigError, whatever the
  file holds: never KeyError, TypeError, UnicodeDecodeError, RecursionError...
- remote commands (`verify_command`): return a ConfigChange or raise CommandRefused, for any
  payload; `command_signed` signs whatever JSON object the input is with a trusted operator's
  key first, so the checks after the signature are reached too.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.commands import CommandRefused, ConfigChange, sign_command, verify_command
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.privacy.policy import load_policy
from gateway.sources.node_link import NodeLink
from gateway.sources.protocols.base import Ack, Decoded, FrameError, Sample
from gateway.sources.protocols.registry import PROTOCOLS

Target = Callable[[bytes], None]
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _key(item: Decoded) -> tuple[Any, ...]:
    if isinstance(item, FrameError):
        return ("error", type(item).__name__, str(item))
    if isinstance(item, Sample):
        return ("sample", type(item).__name__, sorted(item.values.items()), sorted(item.flags))
    return ("ack", type(item).__name__, item.raw)


def decoder_target(sensor_type: str) -> Target:
    """feed never raises, returns only decoded items, and splitting the bytes changes nothing."""
    protocol = PROTOCOLS[sensor_type]

    def target(data: bytes) -> None:
        whole = protocol.decoder().feed(data[1:])
        assert all(isinstance(item, Sample | Ack | FrameError) for item in whole), whole
        step = data[0] % 16 + 1 if data else 1
        split = protocol.decoder()
        pieces = [item for i in range(1, len(data), step) for item in split.feed(data[i : i + step])]
        assert [_key(i) for i in pieces] == [_key(i) for i in whole], (pieces, whole)
        split.reset()
        if sensor_type == "node":
            link = NodeLink("node-1")
            for item in whole:
                if not isinstance(item, FrameError):
                    link.accept(item)

    return target


@cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="edge-fuzz-"))


def config_file(data: bytes) -> None:
    """load_config returns or raises ConfigError."""
    path = _workdir() / "gateway.yaml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_config(path)


def policy_file(data: bytes) -> None:
    """load_policy returns or raises ConfigError."""
    path = _workdir() / "policy.yaml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_policy(path)


@cache
def _operator() -> tuple[Ed25519PrivateKey, GatewayConfig]:
    key = Ed25519PrivateKey.generate()
    public = _workdir() / "beheer.pub.pem"
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    config = GatewayConfig.model_validate(
        {
            "site": "site-a",
            "gateway": "gw-1",
            "mqtt": {"host": "127.0.0.1", "port": 1883},
            "storage": str(_workdir() / "storage"),
            "trust": {"operators": {"beheer": str(public)}},
        }
    )
    return key, config


def _verify(payload: bytes) -> None:
    try:
        change = verify_command(payload, _operator()[1], set(), NOW)
    except CommandRefused:
        return
    assert isinstance(change, ConfigChange)


def command_payload(data: bytes) -> None:
    """verify_command on any payload: a ConfigChange or CommandRefused."""
    _verify(data)


VALID_COMMAND: dict[str, Any] = {
    "command_id": "c-1",
    "operator": "beheer",
    "site": "site-a",
    "gateway": "gw-1",
    "issued": NOW.isoformat(),
    "set": {"air": {"window_s": 600}},
}


def command_signed(data: bytes) -> None:
    """A correctly signed command whose fields come from the input (a JSON object over the valid one)."""
    try:
        fields = json.loads(data)
    except (ValueError, RecursionError):
        return
    if not isinstance(fields, dict):
        return
    try:
        payload = sign_command({**VALID_COMMAND, **fields}, _operator()[0])
    except (ValueError, TypeError, RecursionError):
        return  # not signable (NaN, ...): an operator's tool could not have sent it
    _verify(payload)


TARGETS: dict[str, Target] = {
    **{f"decode_{name}": decoder_target(name) for name in sorted(PROTOCOLS)},
    "config_file": config_file,
    "policy_file": policy_file,
    "command_payload": command_payload,
    "command_signed": command_signed,
}
