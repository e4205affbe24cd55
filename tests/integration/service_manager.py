"""A stand-in for `systemctl restart edge-gateway`, for tests that have no systemd: a real supervisor.

    python service_manager.py restart STATE_DIR -- /opt/edge-gateway/current/bin/edge-gateway run ...

Like systemd with the unit's ExecStart: stop the running process (SIGTERM, then SIGKILL after
TimeoutStopSec), then start the command again, resolving `current` anew, detached (its own session,
output appended to STATE_DIR/gateway.log), and remember its pid in STATE_DIR/pid. It returns as soon as
the new process is started, as `systemctl restart` of a Type=notify unit would once READY... except
that it does not wait for READY: that is the updater's job (gateway/update/health.py). `stop` only stops.
Standard library only: it runs under any Python.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STOP_TIMEOUT_S = 20.0  # the unit's TimeoutStopSec


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}  # a zombie has stopped


def stop(state: Path) -> None:
    try:
        pid = int((state / "pid").read_text())
    except (OSError, ValueError):
        return
    if not running(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):
        os.kill(pid, signal.SIGKILL)


def start(state: Path, command: list[str]) -> int:
    with (state / "gateway.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    (state / "pid").write_text(str(process.pid))
    return process.pid


def main(argv: list[str]) -> int:
    action, state = argv[0], Path(argv[1])
    state.mkdir(parents=True, exist_ok=True)
    stop(state)
    if action == "restart":
        start(state, argv[argv.index("--") + 1 :])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
