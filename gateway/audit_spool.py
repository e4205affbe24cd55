"""Audit records from another process, handed to the gateway that owns the audit log.

The audit log has one writer (``AuditLog`` holds an exclusive ``flock``), and while the service runs
that writer is the gateway. ``edge-gateway update`` runs beside it (as root, from a shell) and must
still leave its trace: each of its records is written as one JSON file in ``<storage>/audit-spool/``
(atomically: a reader sees a whole file or none), and the gateway appends them to the chain, in the
order they were spooled, at start and every few seconds (``drain``), then deletes them. A record
keeps the time it happened in its detail (``at``); the chain's own time is when it was appended.

Only ``SPOOLED_KINDS`` may come this way: a spool file cannot forge a publication or a policy record.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from gateway import audit
from gateway.audit import AuditLog
from gateway.messages import JsonValue, utc_iso, utc_now

log = logging.getLogger(__name__)

SPOOL_DIR: Final = "audit-spool"
SPOOLED_KINDS: Final = frozenset({audit.UPDATE})
MAX_SPOOLED: Final = 1000  # files drained per call; more is a flood, left for the next call
_MAX_FILE: Final = 16 * 1024


def spool_dir(storage: Path) -> Path:
    """Where records for the audit log of the gateway with this storage wait."""
    return storage / SPOOL_DIR


def spool(storage: Path, kind: str, detail: Mapping[str, JsonValue]) -> Path:
    """Leave one record for the gateway's audit log; the file (named in spooling order) is returned."""
    if kind not in SPOOLED_KINDS:
        raise ValueError(f"audit kind {kind!r} cannot be spooled; only {sorted(SPOOLED_KINDS)}")
    directory = spool_dir(storage)
    if not directory.is_dir():
        directory.mkdir(mode=0o750)
        _owned_like(directory, storage)  # the gateway (another user) deletes what it has appended
    body = {"kind": kind, "detail": {**detail, "at": utc_iso(utc_now())}}
    name = f"{time.time_ns():020d}-{os.getpid()}.json"
    tmp = directory / f".{name}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(body, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    _owned_like(tmp, storage)
    tmp.replace(directory / name)
    return directory / name


def drain(storage: Path, audit_log: AuditLog) -> int:
    """Append every spooled record to ``audit_log`` in order and delete it; how many were appended.

    A file that is not a spooled record is logged, renamed ``*.bad`` and kept for a person to read.
    """
    directory = spool_dir(storage)
    try:
        names = sorted(p.name for p in directory.iterdir() if p.suffix == ".json" and p.name[0] != ".")
    except FileNotFoundError:
        return 0
    appended = 0
    for name in names[:MAX_SPOOLED]:
        path = directory / name
        try:
            kind, detail = _read(path)
        except (OSError, ValueError) as exc:
            log.error("audit spool: %s is not a spooled record (%s); kept as %s.bad", path, exc, name)
            path.replace(path.with_name(name + ".bad"))
            continue
        if audit_log.append(kind, detail) is None:
            return appended  # the disk refused it: keep the file, try again next time
        path.unlink()
        appended += 1
    return appended


def _read(path: Path) -> tuple[str, dict[str, JsonValue]]:
    with path.open("rb") as handle:
        raw = handle.read(_MAX_FILE + 1)
    if len(raw) > _MAX_FILE:
        raise ValueError(f"over {_MAX_FILE} bytes")
    body = json.loads(raw)
    if not isinstance(body, dict) or set(body) != {"kind", "detail"} or not isinstance(body["detail"], dict):
        raise ValueError("expected {kind, detail}")
    if body["kind"] not in SPOOLED_KINDS:
        raise ValueError(f"kind {body['kind']!r} may not be spooled")
    return str(body["kind"]), body["detail"]


def _owned_like(path: Path, reference: Path) -> None:
    """Give ``path`` the owner of ``reference`` when running as root (the updater); else a no-op."""
    if os.geteuid() != 0:
        return
    stat = reference.stat()
    os.chown(path, stat.st_uid, stat.st_gid)
