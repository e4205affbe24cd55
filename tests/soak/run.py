"""One soak: start the site, inject the seeded faults one after another until time is up, account.

The scenario plays again and again (each play on a fresh scenario clock, as `edge-sim serial --loop`
does) while faults come one at a time; the gateway's memory, files and CPU are sampled throughout.
At the end the gateway is given a bounded time to drain its outbox, is stopped with SIGTERM, and
everything it audited is checked against what arrived.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tests.soak import accounting, monitor
from tests.soak.faults import Injector, Outcome, wait_for
from tests.soak.schedule import KINDS, plan
from tests.soak.site import SiteOptions, SoakSite

START_BOUND_S = 90.0  # a cold gateway start on a busy 2-core machine: imports, model checks, ports
DRAIN_BOUND_S = 60.0
# The gateway reads the wall clock through Python (datetime.now, time.time); nothing in it can be told
# the time for a test, and nothing outside it can step one process's wall clock without root and a
# shared system clock except libfaketime, whose release in Debian and on PyPI (0.9.10) breaks Python >= 3.11.
NOT_COVERED = {
    "clock_step": (
        "not injected: the gateway has no test hook for its wall clock, and libfaketime 0.9.10 (Debian "
        "bookworm's `libfaketime`, and the copy vendored in PyPI's `libfaketime` 3.0.1) cannot step only "
        "the wall clock of a Python >= 3.11 process: with FAKETIME_DONT_FAKE_MONOTONIC=1 every time.sleep() "
        "raises OSError EINVAL (libfaketime issue #426: clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) is "
        "rewritten to a negative time), which kills paho's reconnect loop; without it CLOCK_MONOTONIC steps "
        "too (NTP never steps it) and every timed wait sleeps for the hour"
    )
}


@dataclass(frozen=True, slots=True)
class SoakOptions:
    """What to run: for how long, with which seed, where the results go."""

    minutes: float
    seed: int
    out: Path
    scenario: str = "default"
    time_scale: float = 20.0
    keepalive_s: int = 5
    camera: bool = True
    kinds: tuple[str, ...] = KINDS
    warmup_s: float = 45.0
    kill_every: int = 1  # gateway_kill in the first cycle of faults and every n-th after it
    sample_s: float = 2.0


@dataclass
class Soak:
    """A soak's raw results, before they are judged (tests.soak.report)."""

    options: SoakOptions
    began_wall: float = 0.0
    began_mono: float = 0.0
    ended_wall: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    crashes: list[dict[str, Any]] = field(default_factory=list)
    not_covered: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    samples: list[monitor.Sample] = field(default_factory=list)
    transport: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    delays: list[tuple[float, float]] = field(default_factory=list)
    plays: int = 0
    harness_cpu_pct: float = 0.0  # this process: simulated sensors and camera, subscriber, proxy
    tracebacks: int = 0
    log: str = ""


def run_soak(options: SoakOptions) -> Soak:
    """Run one soak; the site is torn down whatever happens."""
    work = options.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    site = SoakSite(
        SiteOptions(work, options.scenario, options.time_scale, options.keepalive_s, options.camera)
    )
    soak = Soak(options, not_covered=dict(NOT_COVERED))
    try:
        _run(site, soak)
    finally:
        site.close()
    return soak


def _run(site: SoakSite, soak: Soak) -> None:
    options = soak.options
    kinds = list(options.kinds)
    if site.disk is None and "disk_full" in kinds:
        kinds.remove("disk_full")
        soak.not_covered["disk_full"] = site.disk_unavailable
    if site.camera is None:
        kinds = [k for k in kinds if not k.startswith("camera")]
    site.start_gateway()
    assert site.sim.wait_until_opened(START_BOUND_S), (
        "the gateway did not open its ports:\n" + site.log_since(0)[-3000:]
    )
    site.play()
    soak.began_wall, began, cpu_began = time.time(), time.monotonic(), _own_cpu_s()
    soak.began_mono = began
    sampler = monitor.Monitor(lambda: site.gateway_pid, began, options.sample_s).start()
    deadline = began + options.minutes * 60
    try:
        _faults(site, soak, kinds, deadline)
        _idle_until(site, deadline)
        _finish(site, soak)
    finally:
        sampler.stop()
        soak.samples = sampler.samples
    soak.ended_wall = time.time()
    soak.harness_cpu_pct = round(100 * (_own_cpu_s() - cpu_began) / (time.monotonic() - began), 1)
    soak.plays = len(site.rounds)
    sources = [s.id for s in site.sim.scenario.sensors] + (["cam-1"] if site.camera else [])
    expected = accounting.expectations(
        site.sim.scenario, options.time_scale, site.rounds, soak.outcomes, site.starts, sources
    )
    soak.transport = accounting.transport(site.arrivals.events, site.audited())
    soak.transport |= accounting.contract(site.arrivals.events + list(site.arrivals.latest.values()))
    played_until = site.rounds[-1] + site.sim.clock.now() / options.time_scale
    soak.truth = accounting.truth(
        site.arrivals.events, expected, soak.outcomes, min(played_until, soak.ended_wall), options.time_scale
    )
    soak.truth["plays_began_s"] = [round(t - soak.began_wall, 1) for t in site.rounds]
    soak.truth["gateway_starts_s"] = [round(t - soak.began_wall, 1) for t in site.starts]
    soak.delays = accounting.delays(site.arrivals.events, soak.began_wall)
    log = site.log_since(0)
    soak.tracebacks = log.count("Traceback (most recent call last)")
    soak.log = str(site.log)


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _faults(site: SoakSite, soak: Soak, kinds: list[str], deadline: float) -> None:
    """Planned faults one after another while there is time for the next one and its recovery."""
    options = soak.options
    sensors = [s.id for s in site.sim.scenario.sensors]
    injector = Injector(site, random.Random(options.seed))
    every = {"gateway_kill": options.kill_every}
    for planned in plan(options.seed, kinds, sensors, ["cam-1"], every):
        if time.monotonic() + planned.pause_s + planned.duration_s + 20.0 > deadline:
            return
        _idle_until(site, time.monotonic() + planned.pause_s)
        if planned.target in sensors:  # not while the scenario unplugs it: whose offline would it be?
            quiet = partial(site.quiet, planned.target, planned.duration_s)
            _idle_until(site, time.monotonic() + 60.0, quiet)
        outcome = injector.run(planned)
        soak.outcomes.append(outcome)
        print(_line(outcome), flush=True)
        _survive(site, soak)


def _line(o: Outcome) -> str:
    noticed = "" if o.noticed_s is None else f" noticed {o.noticed_s:.1f} s"
    bound = "" if o.notice_bound_s is None else f" (bound {o.notice_bound_s:.1f})"
    recovered = "NOT RECOVERED" if o.recovered_s is None else f"recovered {o.recovered_s:.1f} s"
    return f"fault {o.index:3d} {o.kind:15s} {o.target:7s} {o.duration_s:5.1f} s:{noticed}{bound} {recovered}"


def _survive(site: SoakSite, soak: Soak) -> None:
    """A gateway that died by itself is a finding: note it, start it again, go on."""
    gateway = site.gateway
    if gateway is None or gateway.poll() is None:
        if gateway is None:
            site.start_gateway()  # a kill fault failed half-way: never leave the site without a gateway
        return
    soak.crashes.append(
        {
            "at_s": round(time.time() - soak.began_wall, 1),
            "exit_code": gateway.returncode,
            "log": site.log_since(0)[-2000:],
        }
    )
    print(f"gateway exited by itself with {gateway.returncode}; restarting", flush=True)
    site.gateway = None
    site.start_gateway()


def _idle_until(site: SoakSite, until: float, done: Callable[[], bool] = lambda: False) -> None:
    """Let the scenario play (again, once it has ended) until `until` or until `done()`."""
    while time.monotonic() < until and not done():
        if site.sim.finished:
            site.play()
        time.sleep(min(0.2, max(0.0, until - time.monotonic())))


def _finish(site: SoakSite, soak: Soak) -> None:
    """Drain (bounded), SIGTERM, and wait (bounded) for the last audited publications to arrive."""
    wait_for(lambda: site.undelivered() == 0, DRAIN_BOUND_S)
    if site.gateway is not None and site.gateway.poll() is None:
        soak.exit_code = site.stop_gateway()
    wait_for(lambda: site.undelivered() == 0, 30.0)
