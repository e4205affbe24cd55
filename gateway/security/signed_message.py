"""Signed JSON messages from the network (operators' commands, actors' escalation requests).

A message is a JSON object with a `signature` field: base64 Ed25519 over the canonical JSON of
every other field (gateway.security.signing.canonical_json), and an `issued` ISO 8601 time with a
zone. These are the checks every kind of signed message shares; what a message means is its
caller's.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.security.signing import SigningKeyError, canonical_json, load_public_key

MAX_SKEW = timedelta(minutes=5)  # clocks on a city network are NTP-synced; five minutes is generous


class SignedMessageRefused(ValueError):
    """Why a signed message is not accepted (the text is sent back to its sender)."""


def sign_body(body: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """`body` with its signature, as the JSON bytes a sender publishes (tools and tests)."""
    signature = base64.b64encode(key.sign(canonical_json(body))).decode()
    return json.dumps({**body, "signature": signature}).encode()


def verify_signed(body: Mapping[str, Any], key_path: Path | None, signer: str) -> None:
    """SignedMessageRefused unless `signature` verifies over the rest of `body` with `signer`'s key
    (`signer` names them in the error, e.g. "operator 'beheer'"; no key: not trusted)."""
    if key_path is None:
        raise SignedMessageRefused(f"{signer} is not trusted by this gateway")
    try:
        signature = base64.b64decode(body["signature"], validate=True)
        unsigned = {k: v for k, v in body.items() if k != "signature"}
        load_public_key(key_path).verify(signature, canonical_json(unsigned))
    except (binascii.Error, InvalidSignature, ValueError, TypeError, KeyError) as exc:
        raise SignedMessageRefused("bad signature") from exc
    except (SigningKeyError, OSError) as exc:
        raise SignedMessageRefused(f"the key of {signer} cannot be read") from exc


def check_issued(issued: str, now: datetime, max_skew: timedelta = MAX_SKEW) -> datetime:
    """The issue time, or SignedMessageRefused if it is not a zoned ISO time within `max_skew` of now."""
    try:
        when = datetime.fromisoformat(issued)
        skew = None if when.tzinfo is None else abs(now - when.astimezone(UTC))
    except (ValueError, OverflowError, TypeError) as exc:  # OverflowError: at the edge of datetime's range
        raise SignedMessageRefused("issued is not an ISO 8601 time") from exc
    if skew is None or skew > max_skew:
        raise SignedMessageRefused("the message is stale or from the future (check the clocks)")
    return when.astimezone(UTC)
