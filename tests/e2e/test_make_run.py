"""`make run` as a new user meets it: it tells its story, raises no false alarm and stops cleanly.

Scenario: `python -m sim.run_all` (what `make run` runs) starts a private Mosquitto, the simulated
sensors, a simulated camera with a fall in the hall and a gateway. Once the gateway has the camera
and every sensor online, Ctrl-C arrives as a terminal sends it: SIGINT to the whole foreground
process group. `make run`
says it is stopping, stops the gateway first, then the simulator and the broker, and ends with one
summary line. Along the way no camera is reported offline before it could open, no sensor or broker
outage is logged at the stop, nothing prints a traceback or a literal None, and no process is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if text in args:
            found.append(args)
    return found


def everything_online(log: Path) -> bool:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "event camera.online hall" in text and text.count("event sensor.online") == 3


def test_make_run_shows_the_story_and_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    run = tmp_path / "live"
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200")
    args = [sys.executable, "-m", "sim.run_all", "--dir", str(run), "--cameras", "hall=fall_forward"]
    # A session of its own, like a shell job: Ctrl-C is SIGINT to this process group, no further.
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    gateway_log = run / "gateway.log"
    try:
        deadline = time.monotonic() + 90
        while not everything_online(gateway_log):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "not everything came online"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stdout, stderr, log = out.decode(), err.decode(), gateway_log.read_text(errors="replace")
    assert proc.returncode == 0, stdout + stderr
    assert "Traceback" not in stdout + stderr + log
    assert "None" not in stdout
    assert "air: scenario 'default' at x5, looping" in stdout
    assert "camera hall: fall_forward, looping: A person walks across the living room" in stdout
    assert "gateway: online" in stdout  # not eaten as a [style] tag
    assert "stopping: the gateway first" in stdout
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("stopped after ") and "camera.online 1" in last and "sensor.online 3" in last, last
    assert last.endswith(f"the gateway stopped cleanly; logs in {run}/"), last
    for false_alarm in ("camera.offline", "sensor.offline", "lost the broker", "cannot reach the broker"):
        assert false_alarm not in log, log
    assert processes_mentioning(str(run)) == []
