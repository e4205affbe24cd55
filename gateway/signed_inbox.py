"""Signed messages from the network (actors' feedback, operators' rollout commands): checked, queued,
rate-limited, answered.

A message is JSON with exactly the fields its kind names, one of them `signature`: base64 Ed25519
over the canonical JSON of everything else (as for config commands, gateway/commands.py). The
checks every kind shares live here: size, shape, signature, freshness, replays. What a message
means is the caller's `process`.

Messages arrive on paho's thread and are only queued there (an oversize one as its size only); the
gateway's loop processes them one at a time. A flood cannot flood the audit log, the outbox or the
log: beyond REFUSALS_PER_MINUTE per sender a refusal is only counted, and once a minute one answer
sums them up.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections import Counter
from collections.abc import Callable, Container, Mapping
from datetime import datetime, timedelta
from typing import Any

from gateway.security.signed_message import SignedMessageRefused, check_issued, sign_body, verify_signed

log = logging.getLogger(__name__)

MAX_MESSAGE = 4 * 1024  # a mark or a rollout command is a few hundred bytes
QUEUED = 100
MAX_SKEW = timedelta(minutes=5)
REFUSALS_PER_MINUTE = 20
MINUTE = 60.0


Refused = SignedMessageRefused  # why a signed message changed nothing (sent back to its sender)
verify_signature = verify_signed  # the same check as every signed message (security/signed_message.py)
sign_message = sign_body


def parse_signed(
    payload: bytes,
    fields: frozenset[str],
    max_bytes: int = MAX_MESSAGE,
    objects: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The message's fields, or Refused: size, JSON, exactly `fields`, each a string of at most 256
    characters but those named in `objects`, which are JSON objects."""
    if len(payload) > max_bytes:
        raise Refused(f"message larger than {max_bytes} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Refused("not a JSON message") from exc
    if not isinstance(body, dict) or set(body) != fields:
        raise Refused(f"a message has exactly the fields {sorted(fields)}")
    strings = [body[k] for k in fields - objects]
    if not all(isinstance(v, str) and len(v) <= 256 for v in strings):
        raise Refused("message fields are strings of at most 256 characters")
    if not all(isinstance(body[k], dict) for k in objects):
        raise Refused(f"{', '.join(sorted(objects))} must be JSON objects")
    return body


def check_fresh(body: Mapping[str, Any], now: datetime, seen: Container[str], id_field: str) -> None:
    """Refused if the id was seen before, or `issued` is not within MAX_SKEW of `now`."""
    if body[id_field] in seen:
        raise Refused(f"replayed {id_field}")
    check_issued(body["issued"], now, MAX_SKEW)


Process = Callable[[str, bytes, datetime], str]  # (sender, payload, now) -> detail, or Refused
Answer = Callable[[str, str, str, str], None]  # (sender, message id, "accepted" | "refused", detail)


class SignedInbox:
    """A bounded queue of signed messages by sender, processed in the gateway's loop."""

    def __init__(
        self, name: str, id_field: str, process: Process, answer: Answer, max_bytes: int = MAX_MESSAGE
    ) -> None:
        self.name = name
        self.id_field = id_field
        self._process = process
        self._answer = answer
        self._max = max_bytes
        self._queue: queue.Queue[tuple[str, bytes | int]] = queue.Queue(maxsize=QUEUED)
        self.clock: Callable[[], float] = time.monotonic  # a seam for tests
        self.dropped = 0
        self.refused = 0
        self._drop_logged_at: float | None = None
        self._minute: float | None = None
        self._refusals: Counter[str] = Counter()  # this minute, by sender
        self._unreported: Counter[str] = Counter()

    def receive(self, sender: str, payload: bytes) -> None:
        """From the network thread: queue it (an oversize one by its size only); a flood is dropped."""
        try:
            self._queue.put_nowait((sender, payload if len(payload) <= self._max else len(payload)))
        except queue.Full:
            self.dropped += 1
            now = self.clock()
            if self._drop_logged_at is None or now - self._drop_logged_at >= MINUTE:
                self._drop_logged_at = now
                log.warning("%s: queue full, %d messages dropped so far", self.name, self.dropped)

    def handle_pending(self, now: datetime) -> None:
        """Process every queued message; once a minute, sum up refusals beyond the limit."""
        if self._minute is None:
            self._minute = self.clock()
        if self.clock() - self._minute >= MINUTE:
            for sender, count in sorted(self._unreported.items()):
                self._answer(sender, "", "refused", f"{count} more messages refused in the last minute")
            self._minute, self._refusals, self._unreported = self.clock(), Counter(), Counter()
        while True:
            try:
                sender, payload = self._queue.get_nowait()
            except queue.Empty:
                return
            self._handle(sender, payload, now)

    def _handle(self, sender: str, payload: bytes | int, now: datetime) -> None:
        message_id = ""
        try:
            if isinstance(payload, int):
                raise Refused(f"message larger than {self._max} bytes")
            message_id = _message_id(payload, self.id_field)
            detail = self._process(sender, payload, now)
        except Refused as exc:
            self.refused += 1
            self._refusals[sender] += 1
            if self._refusals[sender] > REFUSALS_PER_MINUTE:
                self._unreported[sender] += 1
                return
            log.warning("%s from %s refused: %s", self.name, sender, exc)
            self._answer(sender, message_id, "refused", str(exc)[:500])
            return
        self._answer(sender, message_id, "accepted", detail)


def _message_id(payload: bytes, field: str) -> str:
    """The sender's id for its message, echoed in the answer when one can be read."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return ""
    value = body.get(field) if isinstance(body, dict) else None
    return value[:64] if isinstance(value, str) else ""
