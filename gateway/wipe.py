"""`edge-gateway wipe`: destroy what a retired or resold gateway holds, and prove it with a receipt.

Destroyed: every file under `storage` (outbox with its WAL/SHM, audit segments and lock, detector state,
feedback, rollout and escalation stores, the `*_seen.json` files, service.json), the gateway's TLS key
and certificate, any PEM private key beside the config file, and the config file itself (it holds the
commissioning password hash). Public keys of operators, actors and releases are not secrets and stay.

Each file is overwritten in place with zeros, fsynced, then unlinked. On flash (SD cards, eMMC) the
controller's wear-levelling may keep old blocks elsewhere: only full-disk encryption (then discarding
its key) makes erasure certain; docs/security.md says so.

The receipt cannot be signed with the device's key: that key is among what is destroyed, and a key
that survives a wipe would defeat it. It is signed with a fresh one-time Ed25519 key whose public key is
printed (the operator notes it, or the receipt file's hash, at wipe time): the signature shows the
receipt was not altered afterwards. It carries the audit chain's head (seq and sha256 of the newest
record) before the wipe, which links it to the audit log the operator collected beforehand.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.audit_files import fsync_dir, lock, read_tail, segment_paths
from gateway.audit_record import GENESIS, AuditLogCorrupt
from gateway.config import GatewayConfig
from gateway.messages import JsonValue, utc_iso, utc_now
from gateway.security.signing import canonical_json

RECEIPT_KIND: Final = "edge-gateway.wipe-receipt.v1"
OVERWRITE: Final = "one pass of zeros, fsynced, then unlinked"
_CHUNK: Final = 1 << 20


class WipeRefused(RuntimeError):
    """The wipe cannot start (a gateway is running on this storage)."""


@dataclass(frozen=True, slots=True)
class Destroyed:
    path: str
    bytes: int
    sha256: str


def targets(config: GatewayConfig, config_path: Path) -> list[Path]:
    """What `wipe` destroys, the config file last (a wipe cut short can be run again)."""
    found = sorted(p for p in config.storage.rglob("*") if p.is_file() or p.is_symlink())
    tls = config.mqtt.tls
    extra = [] if tls is None else [tls.key, tls.cert]
    extra += [p for p in sorted(config_path.parent.glob("*.pem")) if _is_private_key(p)]
    for path in extra:
        if path.is_file() and path not in found:
            found.append(path)
    return [*found, config_path]


def _is_private_key(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b"PRIVATE KEY-----" in handle.read(4096)
    except OSError:
        return False


def shred(path: Path) -> Destroyed:
    """Hash `path`, overwrite its bytes with zeros, fsync, unlink it. A symlink is only unlinked."""
    if path.is_symlink():
        path.unlink()
        return Destroyed(str(path), 0, "")
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        for chunk in iter(lambda: os.read(fd, _CHUNK), b""):
            digest.update(chunk)
        zeros, done = bytes(_CHUNK), 0
        while done < size:
            done += os.pwrite(fd, zeros[: min(_CHUNK, size - done)], done)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    return Destroyed(str(path), size, digest.hexdigest())


def audit_head(storage: Path) -> tuple[int, str]:
    """The audit chain's newest (seq, sha256) before the wipe; (0, GENESIS) with no log."""
    active = storage / "audit.jsonl"
    for path in [active, *reversed(segment_paths(active))]:
        if path.is_file() and path.stat().st_size:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                tail = read_tail(fd, path)
            except AuditLogCorrupt:
                return -1, ""  # said in the receipt: the head could not be read
            finally:
                os.close(fd)
            return tail.seq, tail.head
    return 0, GENESIS


def _held_lock(storage: Path) -> int:
    """The audit log's lock, which a running gateway holds for its whole life: its fd, or WipeRefused."""
    if not storage.is_dir():
        return -1
    try:
        return lock(storage / "audit.jsonl")
    except BlockingIOError as exc:
        raise WipeRefused(
            f"a gateway is running on {storage} (its audit log is locked): stop it, then wipe"
        ) from exc


def wipe(
    config: GatewayConfig,
    config_path: Path,
    *,
    clock: Callable[[], datetime] = utc_now,
    key: Ed25519PrivateKey | None = None,
) -> dict[str, JsonValue]:
    """Destroy every target and return the signed receipt; WipeRefused while a gateway runs."""
    storage = config.storage
    fd = _held_lock(storage)
    try:
        seq, head = audit_head(storage)
        destroyed = [
            shred(path) for path in targets(config, config_path) if path.exists() or path.is_symlink()
        ]
    finally:
        if fd >= 0:
            os.close(fd)
    for directory in sorted(_directories(storage), reverse=True):
        directory.rmdir()
    if storage.is_dir():
        fsync_dir(storage)
    body: dict[str, JsonValue] = {
        "kind": RECEIPT_KIND,
        "site": config.site,
        "gateway": config.gateway,
        "time": utc_iso(clock()),
        "audit": {"seq": seq, "head": head},
        "overwrite": OVERWRITE,
        "files": [{"path": d.path, "bytes": d.bytes, "sha256": d.sha256} for d in destroyed],
    }
    return sign_receipt(body, key or Ed25519PrivateKey.generate())


def _directories(storage: Path) -> Iterator[Path]:
    return (
        (p for p in storage.rglob("*") if p.is_dir() and not p.is_symlink()) if storage.is_dir() else iter(())
    )


def sign_receipt(body: Mapping[str, JsonValue], key: Ed25519PrivateKey) -> dict[str, JsonValue]:
    """`body` with the one-time key's `public_key` and the `signature` over everything else."""
    public = key.public_key().public_bytes_raw()
    signed: dict[str, JsonValue] = {**body, "public_key": base64.b64encode(public).decode("ascii")}
    signed["signature"] = base64.b64encode(key.sign(canonical_json(signed))).decode("ascii")
    return signed


def verify_receipt(receipt: Mapping[str, JsonValue], public_key: str | None = None) -> str | None:
    """None if `receipt` is intact (and, given `public_key`, signed by it); otherwise why not."""
    body = dict(receipt)
    signature, key = body.pop("signature", None), receipt.get("public_key")
    if not isinstance(signature, str) or not isinstance(key, str) or body.get("kind") != RECEIPT_KIND:
        return "not a wipe receipt"
    if public_key is not None and public_key != key:
        return "signed by another key than the one noted at wipe time"
    try:
        verifier = Ed25519PublicKey.from_public_bytes(base64.b64decode(key, validate=True))
        verifier.verify(base64.b64decode(signature, validate=True), canonical_json(body))
    except (ValueError, InvalidSignature):
        return "the signature does not verify: the receipt was altered"
    return None
