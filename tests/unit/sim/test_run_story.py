"""`make run` says what it plays and, when it stops, what happened, in one line.

Scenario: a new user starts `make run` with the default scenario at x5 and a fall in the hall. The
title says which air scenario plays and where in its timeline it is now (looping), and what each
camera shows. The children it starts run in sessions of their own, so a Ctrl-C in the terminal
reaches only `make run`, which then stops them in its own order.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from sim.run_all import Abort, Children, listening, wait_for
from sim.run_story import Story, elapsed, summary
from sim.scenario import load_scenario, scenario_path


def test_the_title_says_what_is_played_and_where_in_the_scenario_it_is() -> None:
    story = Story("default", 5.0, ["hall=fall_forward", "bed=adl_lie_bed", "x=random:fall:3"])
    duration = load_scenario(scenario_path("default")).duration_s
    lines = story.lines(played_s=duration / 5 + 83)  # once round the loop, then 415 scenario seconds
    text = " ".join(lines)
    assert lines[0].startswith(
        "air: scenario 'default' at x5, looping, now at 6 min 55 s of 30 min: 30 minutes:"
    )
    assert "MH-Z19 unplugged" in text
    assert lines[-3] == (
        "camera hall: fall_forward, looping: "
        "A person walks across the living room, trips and falls forward onto the rug, and stays down."
    )
    assert "lies down on purpose" in lines[-2] and "(intentional lying: no alarm)" in lines[-2]
    assert lines[-1] == "camera x: random:fall:3, looping: a random fall scene"
    assert all(len(line) <= 160 for line in lines[:-3])


def test_the_summary_is_one_line() -> None:
    counts = Counter({"sensor.online": 3, "fall.detected": 1})
    assert summary(83, counts, 0, "run/live/") == (
        "stopped after 1 min 23 s: 4 event messages (sensor.online 3, fall.detected 1); "
        "the gateway stopped cleanly; logs in run/live/"
    )
    assert "the gateway exited with 2" in summary(5, Counter(), 2, "x/")
    assert "the gateway did not stop in time and was killed" in summary(5, Counter(), None, "x/")
    assert [elapsed(s) for s in (0.4, 59.6, 60, 3600, 3725)] == ["0 s", "1 min", "1 min", "1 h", "1 h 2 min"]


TERM_AWARE = (
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
)


def test_children_run_in_sessions_of_their_own_and_stop_on_sigterm(tmp_path: Path) -> None:
    children = Children(tmp_path)
    ready = tmp_path / "ready"
    polite = children.start("polite", [sys.executable, "-c", TERM_AWARE, str(ready)], "children.log")
    stubborn = children.start(
        "stubborn", [sys.executable, "-c", "import time; time.sleep(60)"], "children.log"
    )
    try:
        assert [os.getsid(p.pid) for p in (polite, stubborn)] == [polite.pid, stubborn.pid]
        deadline = time.monotonic() + 10
        while not ready.exists():  # its SIGTERM handler is installed
            assert time.monotonic() < deadline and polite.poll() is None
            time.sleep(0.02)
        assert children.stop("polite") == 0
        assert children.stop("stubborn") == -signal.SIGTERM
        assert children.stop("gone") == 0
    finally:
        children.stop_all()
    assert polite.poll() == 0 and stubborn.poll() == -signal.SIGTERM


def test_a_child_that_dies_while_awaited_aborts_with_where_to_look(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(Abort, match="the simulator"):
        wait_for(lambda: False, proc, threading.Event(), "the simulator")


def test_a_port_is_listening_only_while_something_accepts_on_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert listening(port)
    assert not listening(port)
