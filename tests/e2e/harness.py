"""End-to-end harness: a simulated site, a real gateway process, a real Mosquitto, a subscriber."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.broker import Mosquitto
from sim.ground_truth import ExpectedEvent, ground_truth
from sim.scenario import load_scenario, scenario_path
from sim.site import SimulatedSite
from tests.mqtt_helpers import Recorder

BIN = Path(sys.executable).parent


@dataclass
class Match:
    missing: list[ExpectedEvent]
    unexpected: list[dict[str, Any]]


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a power cut would, and reap it."""
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM; its exit code once it has stopped (bounded)."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout)


class SiteRun:
    """One scenario played through a gateway subprocess into a broker."""

    def __init__(
        self, workdir: Path, broker: Mosquitto, scenario: str, time_scale: float, **extra: object
    ) -> None:
        self.workdir = workdir
        self.broker = broker
        self.site = SimulatedSite(
            load_scenario(scenario_path(scenario)), workdir / "sim", time_scale, pace=False
        )
        self.site.open_ports()
        self.storage = workdir / "storage"
        extra.setdefault("health_interval_s", 0.5)
        self.config = self.site.write_gateway_config(
            workdir / "gateway.yaml", broker.host, broker.port, self.storage, **extra
        )
        self.recorder = Recorder(broker.host, broker.port, "city/v1/#", session=f"e2e-{os.getpid()}")
        self.gateway: subprocess.Popen[bytes] | None = None
        self.log = workdir / "gateway.log"

    @property
    def outbox_path(self) -> Path:
        return self.storage / "outbox.sqlite3"

    def start_gateway(self) -> None:
        with self.log.open("ab") as log:
            self.gateway = subprocess.Popen(
                [BIN / "edge-gateway", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> None:
        """Gateway first, then power the devices once it has every port open."""
        self.start_gateway()
        assert self.site.wait_until_opened(30), self.log_tail()
        self.site.start()

    def wait_scenario(self, until_s: float | None = None) -> None:
        """Wait (bounded) until scenario time reaches `until_s` (default: the end)."""
        end = self.site.scenario.duration_s if until_s is None else until_s
        deadline = time.monotonic() + end / self.site.time_scale + 60
        while self.site.clock.now() < end:
            assert time.monotonic() < deadline, "scenario clock stalled"
            assert self.gateway is None or self.gateway.poll() is None, self.log_tail()
            time.sleep(0.05)

    def kill_gateway(self) -> None:
        assert self.gateway is not None
        kill(self.gateway)
        self.gateway = None

    def stop_gateway(self) -> int:
        assert self.gateway is not None
        code = stop(self.gateway)
        self.gateway = None
        return code

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.kill()
            self.gateway.wait(10)
        self.site.close()
        self.recorder.close()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no gateway log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def scenario_time(self, iso: str) -> float:
        """Scenario seconds at which an event with this wall-clock time happened."""
        wall = datetime.fromisoformat(iso).timestamp()
        return (wall - self.site.started_at) * self.site.time_scale

    def events(self, actor: str = "gemeente") -> list[dict[str, Any]]:
        """The events one actor received (the default policy gives `gemeente` every air event)."""
        return [e for e in self.recorder.events() if e.get("actor") == actor]


NOWCAST_HORIZON_S = 1800.0  # a nowcast may rightly announce a level up to 30 min before it is reached


def matches_truth(expected: ExpectedEvent, event: dict[str, Any], t: float) -> bool:
    """Whether a received event is the expected one, `t` being its time on the expectation's clock."""
    if event["type"] != expected.type or event["source"] != expected.source:
        return False
    early = NOWCAST_HORIZON_S if event["data"].get("trigger") == "nowcast" else expected.tolerance_s
    if not expected.t - early <= t <= expected.t + expected.tolerance_s:
        return False
    return all(event["data"].get(k) == v for k, v in expected.data.items() if k in ("band", "level"))


def match_ground_truth(run: SiteRun, types: tuple[str, ...] | None = None, actor: str = "gemeente") -> Match:
    """Which required ground-truth events never reached `actor`, and which events nothing explains."""
    truth = [e for e in ground_truth(run.site.scenario) if types is None or e.type in types]
    received = [
        (e, run.scenario_time(e["time"])) for e in run.events(actor) if types is None or e["type"] in types
    ]
    missing = [x for x in truth if x.required and not any(matches_truth(x, e, t) for e, t in received)]
    unexpected = [e for e, t in received if not any(matches_truth(x, e, t) for x in truth)]
    return Match(missing, unexpected)


def describe(match: Match, run: SiteRun) -> str:
    got = [(round(run.scenario_time(e["time"])), e["type"], e["source"], e["data"]) for e in run.events()]
    return json.dumps(
        {
            "missing": [str(m) for m in match.missing],
            "unexpected": [str(u) for u in match.unexpected],
            "got": got,
        },
        indent=1,
        default=str,
    )
