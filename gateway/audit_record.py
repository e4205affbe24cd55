"""One audit record: its canonical line, its hash, and the check that a line is one (gateway/audit.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Final

from gateway.messages import JsonValue

GENESIS: Final = "0" * 64
MAX_LINE: Final = 64 * 1024  # one record; bounds what reopening has to read back
_FIELDS: Final = frozenset({"seq", "time", "kind", "detail", "prev", "hash"})


class AuditLogError(Exception):
    """The audit log cannot be continued as it is found."""


class RecordInvalid(ValueError):
    """A line is not a well-formed record whose hash matches its content."""


class AuditLogBusy(AuditLogError):
    """Another writer (process or object) holds the log."""


class AuditLogCorrupt(AuditLogError):
    """The newest complete record does not verify: history was changed, not torn. Run verify_chain."""


def canonical(value: Mapping[str, object]) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, ASCII, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One record, as written; ``line`` is its exact bytes in the file (without the newline)."""

    seq: int
    time: str
    kind: str
    detail: Mapping[str, JsonValue]
    prev: str
    hash: str

    @property
    def line(self) -> bytes:
        """The canonical line, whose sha256 is the next record's ``prev``."""
        return canonical(asdict(self))


def parse_record(line: bytes) -> AuditRecord:
    """The record on ``line`` if it is canonical and its ``hash`` matches; RecordInvalid saying why not."""
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordInvalid(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) != _FIELDS:
        raise RecordInvalid(f"fields must be exactly {sorted(_FIELDS)}")
    seq, time, kind, detail, prev, digest = (
        data[k] for k in ("seq", "time", "kind", "detail", "prev", "hash")
    )
    if not (isinstance(seq, int) and isinstance(detail, dict) and isinstance(prev, str)):
        raise RecordInvalid("seq, detail or prev has the wrong type")
    if not (isinstance(time, str) and isinstance(kind, str) and isinstance(digest, str)):
        raise RecordInvalid("time, kind or hash has the wrong type")
    record = AuditRecord(seq=seq, time=time, kind=kind, detail=detail, prev=prev, hash=digest)
    if record.line != line:
        raise RecordInvalid("not in canonical form (edited by hand?)")
    if record_hash(record) != digest:
        raise RecordInvalid("hash does not match the record's content")
    return record


def record_hash(record: AuditRecord) -> str:
    body = asdict(record)
    del body["hash"]
    return sha256_hex(canonical(body))


def is_record(line: bytes) -> bool:
    """Whether ``line`` is a whole, valid record."""
    try:
        parse_record(line)
    except RecordInvalid:
        return False
    return True
