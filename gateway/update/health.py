"""Is the new version healthy? Its own `<storage>/service.json` says so (gateway/service_state.py).

Healthy means: a process of the new version (its version in the file, not the pid that ran before
the restart, started after the restart) wrote `ready` (it sent systemd READY=1: sources and
publisher up, main loop beating) within the deadline, and is still running and still `ready`
`settle_s` later. It is unhealthy at once when that process wrote `stopped`, or died, before READY:
no need to sit out the deadline for a version that crashes at start.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Final

from gateway.service_state import ServiceState, read_state

POLL_S: Final = 0.1


class Unhealthy(Exception):
    """The new version did not become (or stay) healthy; the message says how."""


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: fall back to a signal-0 probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def _ours(state: ServiceState | None, version: str, old_pid: int | None, after: datetime) -> bool:
    if state is None or state.version != version or state.pid == old_pid:
        return False
    try:
        return datetime.fromisoformat(state.since) >= after
    except ValueError:
        return False


def wait_healthy(
    storage: Path,
    version: str,
    old_pid: int | None,
    after: datetime,
    timing: tuple[float, float],
) -> ServiceState:
    """Wait until `version` is healthy (see the module docstring); Unhealthy saying why it is not.

    `timing` is (healthy within s, settle s); `after` is when the restart was asked for (UTC).
    """
    within_s, settle_s = timing
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        state = read_state(storage)
        if state is not None and _ours(state, version, old_pid, after):
            if state.state == "ready":
                return _settled(storage, state, settle_s)
            if state.state == "stopped" or not alive(state.pid):
                raise Unhealthy(f"version {version} (pid {state.pid}) exited before it was ready")
        time.sleep(POLL_S)
    raise Unhealthy(f"version {version} did not report ready within {within_s:g} s")


def _settled(storage: Path, ready: ServiceState, settle_s: float) -> ServiceState:
    end = time.monotonic() + settle_s
    while True:
        state = read_state(storage)
        if state != ready or not alive(ready.pid):
            raise Unhealthy(
                f"version {ready.version} (pid {ready.pid}) stopped within {settle_s:g} s of ready"
            )
        if time.monotonic() >= end:
            return ready
        time.sleep(min(POLL_S, max(0.0, end - time.monotonic())))
