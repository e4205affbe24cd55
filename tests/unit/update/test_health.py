"""When is a new version healthy? When a process of that version, started after the restart, says
`ready` in service.json and is still running and still ready a little later. A real child process
plays the service; its death before ready ends the wait at once, not at the deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.service_state import STATE_FILE, read_state, write_state
from gateway.update.health import Unhealthy, alive, wait_healthy

AFTER = datetime(2026, 1, 1, tzinfo=UTC)


def state(storage: Path, status: str, version: str, pid: int, since: datetime = AFTER) -> None:
    body = {"state": status, "version": version, "pid": pid, "since": since.isoformat()}
    (storage / STATE_FILE).write_text(json.dumps(body))


@pytest.fixture
def service() -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_ready_and_still_running_is_healthy(tmp_path: Path, service: subprocess.Popen[bytes]) -> None:
    state(tmp_path, "ready", "0.2.0", service.pid)
    started = time.monotonic()
    assert wait_healthy(tmp_path, "0.2.0", 1, AFTER, (5.0, 0.3)).pid == service.pid
    assert time.monotonic() - started >= 0.3  # it waited out the settle time


def test_dead_before_ready_is_unhealthy_at_once(tmp_path: Path, service: subprocess.Popen[bytes]) -> None:
    state(tmp_path, "starting", "0.3.0", service.pid)
    service.kill()
    service.wait()
    started = time.monotonic()
    with pytest.raises(Unhealthy, match="exited before it was ready"):
        wait_healthy(tmp_path, "0.3.0", None, AFTER, (30.0, 0.0))
    assert time.monotonic() - started < 5


def test_a_stale_file_of_the_old_version_or_process_never_passes(
    tmp_path: Path, service: subprocess.Popen[bytes]
) -> None:
    state(tmp_path, "ready", "0.1.0", service.pid)  # the version before the update
    with pytest.raises(Unhealthy, match=r"did not report ready within 0\.5 s"):
        wait_healthy(tmp_path, "0.2.0", None, AFTER, (0.5, 0.0))
    state(
        tmp_path, "ready", "0.2.0", service.pid, since=AFTER - timedelta(seconds=1)
    )  # from before the restart
    with pytest.raises(Unhealthy, match="did not report ready"):
        wait_healthy(tmp_path, "0.2.0", None, AFTER, (0.5, 0.0))
    state(tmp_path, "ready", "0.2.0", service.pid)  # the very process that was asked to restart
    with pytest.raises(Unhealthy, match="did not report ready"):
        wait_healthy(tmp_path, "0.2.0", service.pid, AFTER, (0.5, 0.0))


def test_stopping_while_settling_is_unhealthy(tmp_path: Path, service: subprocess.Popen[bytes]) -> None:
    state(tmp_path, "ready", "0.2.0", service.pid)
    service.kill()
    service.wait()
    with pytest.raises(Unhealthy, match="stopped within 1 s of ready"):
        wait_healthy(tmp_path, "0.2.0", None, AFTER, (5.0, 1.0))


def test_the_service_writes_its_own_state(tmp_path: Path) -> None:
    write_state(tmp_path, "starting")
    written = read_state(tmp_path)
    assert written is not None and written.state == "starting" and alive(written.pid)
    (tmp_path / STATE_FILE).write_text("{not json")
    assert read_state(tmp_path) is None
    write_state(tmp_path / "missing", "ready")  # no storage: advice, never an error
