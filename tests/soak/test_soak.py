"""Five minutes of faults on a simulated site (the one long test in `make test`; `make soak` runs an hour).

Scenario: the default scenario plays again and again at 20x through a gateway process, a real
Mosquitto behind a loopback link proxy, pseudo-terminal sensors and a live MJPEG camera, its storage on
a small tmpfs. On a seeded schedule, one at a time: the broker is killed and restarted, the link
stalls (half-open) or drops, the gateway is SIGKILLed and restarted, the disk fills and frees, a sensor
is unplugged or its line garbled, the camera stalls or dies. Every event the gateway audited arrives;
a duplicate is the same message; the scenario's ground truth arrives; each fault is recovered from
within its bound (a half-open link noticed within 1.5 x keepalive); memory and open files stay flat.
The figures are written to the test's directory and printed on failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.report import write
from tests.soak.run import SoakOptions, run_soak
from tests.soak.schedule import KINDS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_five_minutes_of_faults_lose_nothing_and_every_fault_is_recovered(tmp_path: Path) -> None:
    soak = run_soak(SoakOptions(minutes=5.0, seed=12, out=tmp_path))
    figures = write(soak, tmp_path)
    summary = (tmp_path / "soak.txt").read_text()
    injected = {fault["kind"] for fault in figures["faults"]}
    assert injected == set(KINDS) - set(figures["not_covered"]), summary
    for check, passed in figures["checks"].items():
        assert passed, f"{check} failed:\n{summary}"
