"""The service's own account of itself, `<storage>/service.json`: which version, which process, which state.

    {"state": "ready", "version": "0.2.0", "pid": 4242, "since": "2026-11-27T18:04:05.123Z"}

`starting` is written as soon as `edge-gateway run` has read its config, `ready` when it sends systemd
READY=1 (sources and publisher up, the main loop beating), `stopped` when it has shut down. It is what
`edge-gateway update` watches to call a new version healthy (gateway/update/health.py): the same
signal the service manager gets, readable without one, and written by the process itself so a stale
file of the previous version can never pass for the new one (its version and pid differ).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from gateway.messages import utc_iso, utc_now
from gateway.shipped import distribution_version

STATE_FILE: Final = "service.json"
State = Literal["starting", "ready", "stopped"]
STATES: Final = ("starting", "ready", "stopped")


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One reading of the file."""

    state: State
    version: str
    pid: int
    since: str


def write_state(storage: Path, state: State) -> None:
    """Replace the file atomically with this process's `state`; a failing disk is not fatal here."""
    body = {
        "state": state,
        "version": distribution_version(),
        "pid": os.getpid(),
        "since": utc_iso(utc_now()),
    }
    path = storage / STATE_FILE
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)  # the watchdog and the outbox report a failing disk; this is advice


def read_state(storage: Path) -> ServiceState | None:
    """The file's content, or None when it is missing, being replaced, or not a state file."""
    try:
        body = json.loads((storage / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    state, version, pid, since = (body.get(k) for k in ("state", "version", "pid", "since"))
    if state not in STATES or not isinstance(version, str) or not isinstance(since, str):
        return None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    return ServiceState(state, version, pid, since)
