"""Remote configuration over MQTT, for operators only: authenticated, authorised, validated, atomic.

A command arrives on `<prefix>/v1/<site>/<gateway>/commands/config` (the broker lets only operator
certificates write there) as JSON signed with the operator's Ed25519 key:

    {"command_id": "...", "operator": "beheer", "site": "...", "gateway": "...",
     "issued": "2026-11-27T10:00:00Z", "set": {"air": {"window_s": 600}}, "signature": "<base64>"}

The gateway accepts it only if the operator is listed in `trust.operators`, the signature over the
canonical JSON of everything but `signature` verifies with that operator's key, it names this site
and gateway, it was issued within MAX_SKEW of now, its id was never seen before (no replays), it
changes only REMOTE_KEYS, and the resulting whole config validates. Anything else changes nothing.

A flood of junk cannot flood the audit log, the outbox or the log: beyond REFUSALS_PER_MINUTE a
refused command is only counted, and once a minute one audit record, one reply and one log line
give the count. A full queue drops commands, counted and logged at most once a minute.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from ruamel.yaml import YAML

from gateway import audit
from gateway.audit import AuditLog
from gateway.config import GatewayConfig
from gateway.messages import JsonValue
from gateway.security.signed_message import SignedMessageRefused, check_issued, sign_body, verify_signed
from gateway.signed_inbox import Refused
from gateway.topics import Topics

log = logging.getLogger(__name__)

MAX_COMMAND = 16 * 1024
QUEUED_COMMANDS = 100  # more waiting than this is a flood, not configuration
MAX_SKEW = timedelta(minutes=5)
REFUSALS_PER_MINUTE = 20  # answered and audited one by one; more are summed up once a minute
MINUTE = 60.0
REMOTE_KEYS = frozenset({"air", "health_interval_s"})  # detector settings; ports and identity need a visit
FIELDS = frozenset({"command_id", "operator", "site", "gateway", "issued", "set", "signature"})


CommandRefused = Refused  # why a command changed nothing (sent back to the operator and audit-logged)


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A verified, validated change: the new config and which top-level keys it changes."""

    command_id: str
    operator: str
    config: GatewayConfig
    keys: tuple[str, ...]


def sign_command(body: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """An operator's signed command (tools and tests)."""
    return sign_body(body, key)


def parse_command(
    payload: bytes, fields: frozenset[str], objects: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A command's JSON body with exactly `fields`, strings but for the `objects`; else CommandRefused."""
    if len(payload) > MAX_COMMAND:
        raise CommandRefused(f"command larger than {MAX_COMMAND} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise CommandRefused("not a JSON command") from exc
    if not isinstance(body, dict) or set(body) != fields:
        raise CommandRefused(f"a command has exactly the fields {sorted(fields)}")
    if not all(isinstance(body[k], dict if k in objects else str) for k in fields):
        raise CommandRefused("command fields have the wrong types")
    return body


def authenticate(body: Mapping[str, Any], operators: Mapping[str, Path]) -> None:
    """CommandRefused unless an operator in `operators` signed `body` (its `signature` field)."""
    try:
        verify_signed(body, operators.get(body["operator"]), f"operator {body['operator'][:64]!r}")
    except SignedMessageRefused as exc:
        raise CommandRefused(str(exc)) from exc


def check_addressed(
    body: Mapping[str, Any], current: GatewayConfig, now: datetime, seen: Container[str]
) -> None:
    """CommandRefused unless `body` is for this site and gateway, fresh, and never seen before."""
    if (body["site"], body["gateway"]) != (current.site, current.gateway):
        raise CommandRefused("the command is for another gateway")
    try:
        check_issued(body["issued"], now, MAX_SKEW)
    except SignedMessageRefused as exc:
        raise CommandRefused(str(exc).replace("the message", "the command")) from exc
    if body["command_id"] in seen:
        raise CommandRefused("replayed command id")


def _authorise(body: dict[str, Any], current: GatewayConfig, now: datetime, seen: Container[str]) -> None:
    check_addressed(body, current, now, seen)
    unknown = sorted(set(body["set"]) - REMOTE_KEYS)
    if unknown:
        raise CommandRefused(f"not remotely configurable: {', '.join(unknown)[:200]}")


def verify_command(
    payload: bytes, current: GatewayConfig, seen: Container[str], now: datetime
) -> ConfigChange:
    """The change a command makes, or CommandRefused saying why it changes nothing."""
    body = parse_command(payload, FIELDS, frozenset({"set"}))
    authenticate(body, current.trust.operators)
    _authorise(body, current, now, seen)
    merged = _merge(current.model_dump(mode="json"), body["set"])
    try:
        config = GatewayConfig.model_validate(merged)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CommandRefused(f"invalid config: {errors}"[:500]) from exc
    return ConfigChange(body["command_id"], body["operator"], config, tuple(sorted(body["set"])))


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`base` with `change` applied key by key, sections merged rather than replaced."""
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def write_config(path: Path, change: ConfigChange) -> None:
    """Rewrite the changed keys of the config file atomically, keeping its comments and layout."""
    yaml = YAML(typ="rt")
    document = yaml.load(path.read_text(encoding="utf-8"))
    new = change.config.model_dump(mode="json")
    for key in change.keys:
        document[key] = new[key]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        yaml.dump(document, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class SeenCommands:
    """Command ids already acted on (persisted, bounded): a replayed command is refused."""

    def __init__(self, path: Path, keep: int = 1000) -> None:
        self.path = path
        self.keep = keep
        try:
            self.ids: list[str] = [str(i) for i in json.loads(path.read_text())][-keep:]
        except (OSError, ValueError, TypeError):
            self.ids = []

    def __contains__(self, command_id: object) -> bool:
        return command_id in self.ids

    def add(self, command_id: str) -> None:
        """Remember an id, durably."""
        self.ids = [*self.ids, command_id][-self.keep :]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.ids))
        tmp.replace(self.path)


class RemoteConfig:
    """The remote-configuration queue: commands arrive from the network thread, are checked for size
    there, and are verified, applied, audited and answered one at a time in the gateway's loop."""

    def __init__(
        self,
        config: GatewayConfig,
        config_path: Path | None,
        audit_log: AuditLog,
        apply: Callable[[GatewayConfig], None],
        answer: Callable[[str, str, str], None],
    ) -> None:
        self.config = config
        self.topic = Topics(config.mqtt.prefix, config.site, config.gateway).commands
        self._path = config_path
        self._audit = audit_log
        self._apply = apply
        self._answer = answer  # (command id, "applied" | "refused", detail)
        self._seen = SeenCommands(config.storage / "commands_seen.json")
        # An oversize command is queued as its size only: it is refused without ever being kept.
        self._queue: queue.Queue[bytes | int] = queue.Queue(maxsize=QUEUED_COMMANDS)
        self.dropped = 0
        self.refused = 0
        self.clock: Callable[[], float] = time.monotonic  # seconds; a seam for tests
        self._drop_logged_at: float | None = None  # when a full queue was last logged
        self._minute: float | None = None  # start of the current rate-limit minute
        self._refusals = 0  # refusals in the current minute
        self._unreported = 0  # refusals beyond the limit, not yet summed up

    def receive(self, payload: bytes) -> None:
        """From the network thread: queue it (an oversize one by its size only); a flood is dropped."""
        try:
            self._queue.put_nowait(payload if len(payload) <= MAX_COMMAND else len(payload))
        except queue.Full:
            self.dropped += 1
            now = self.clock()
            if self._drop_logged_at is None or now - self._drop_logged_at >= MINUTE:
                self._drop_logged_at = now
                log.warning("remote command queue full: %d commands dropped so far", self.dropped)

    def handle_pending(self, now: datetime) -> None:
        """Act on every queued command; once a minute, sum up the refusals beyond the limit."""
        if self._minute is None:
            self._minute = self.clock()
        if self.clock() - self._minute >= MINUTE:
            self._summarise()
        while True:
            try:
                payload = self._queue.get_nowait()
            except queue.Empty:
                return
            self._handle(payload, now)

    def _summarise(self) -> None:
        if self._unreported:
            error = f"{self._unreported} more commands refused in the last minute (rate limit)"
            log.warning("remote configuration: %s", error)
            self._audit.append(audit.CONFIG_REFUSED, {"error": error, "count": self._unreported})
            self._answer("", "refused", error)
        self._minute, self._refusals, self._unreported = self.clock(), 0, 0

    def _handle(self, payload: bytes | int, now: datetime) -> None:
        size = payload if isinstance(payload, int) else len(payload)
        received: dict[str, JsonValue] = {"topic": self.topic, "bytes": size}
        try:
            if isinstance(payload, int):
                raise CommandRefused(f"command larger than {MAX_COMMAND} bytes")
            change = verify_command(payload, self.config, self._seen, now)
            if self._path is not None:
                write_config(self._path, change)
        except (CommandRefused, OSError) as exc:
            self._refuse(received, str(exc))
            return
        self._audit.append(audit.COMMAND_RECEIVED, received)
        self._seen.add(change.command_id)
        self.config = change.config
        self._apply(change.config)
        detail: dict[str, JsonValue] = {
            "actor": change.operator,
            "command_id": change.command_id,
            "keys": list[JsonValue](change.keys),
        }
        self._audit.append(audit.CONFIG_CHANGED, detail)
        log.warning("remote configuration by %s applied: %s", change.operator, ", ".join(change.keys))
        self._answer(change.command_id, "applied", ", ".join(change.keys))

    def _refuse(self, received: dict[str, JsonValue], error: str) -> None:
        """Audit, answer and log a refusal, or past the limit only count it."""
        self.refused += 1
        self._refusals += 1
        if self._refusals > REFUSALS_PER_MINUTE:
            self._unreported += 1
            return
        log.warning("remote configuration refused: %s", error)
        self._audit.append(audit.COMMAND_RECEIVED, received)
        self._audit.append(audit.CONFIG_REFUSED, {"error": error[:500]})
        self._answer("", "refused", error)
