"""Figure 2: the gateway process's CPU and peak memory with 8 simulated sensors at real time.

Three SDS011, two PMS5003T and one PMS5003 stream once a second and two MH-Z19 are polled every
5 s, all paced at 9600 baud on real pseudo-terminals, while PM and CO2 rise through several bands
and levels, so the detectors, the ONNX humidity correction, the outbox and MQTT all work.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sim.broker import Mosquitto
from sim.scenario import parse_scenario
from sim.site import SimulatedSite
from tests.bench.listener import Listener
from tests.bench.procs import GatewayProcess
from tests.bench.report import Figure

SETTLE_S = 35.0  # PM sensors' readings are flagged warming_up (and skipped) for 30 s after open
WINDOW_S = 60.0  # measuring window, after SETTLE_S: steady state
DURATION_S = 110.0  # the scenario outlasts both
OPEN_TIMEOUT_S = 60.0

_PM = {
    "pm25": [[0, 8], [40, 8], [90, 60], [110, 60]],
    "pm10": [[0, 12], [40, 12], [90, 80], [110, 80]],
    "humidity": [[0, 70], [110, 80]],
    "temperature": [[0, 12], [110, 12]],
}
_CO2 = {"co2": [[0, 600], [40, 600], [90, 1400], [110, 1400]], "temperature": [[0, 21], [110, 22]]}


def _sensor(sensor_id: str, kind: str, humidity_from: str | None = None) -> dict[str, object]:
    sensor: dict[str, object] = {"id": sensor_id, "type": kind, "variability": 0.05}
    sensor["truth"] = _CO2 if kind == "mhz19" else _PM
    if kind != "mhz19":
        sensor["artefact"] = {"humidity_growth": 0.2, "gain": 1.1}
    if humidity_from:
        sensor["humidity_from"] = humidity_from
    return sensor


def scenario() -> dict[str, object]:
    """The 8-sensor scenario, as a dict shaped like sim/scenarios/*.yaml."""
    sensors = [
        _sensor("sds-1", "sds011", "pmst-1"),
        _sensor("sds-2", "sds011", "pmst-2"),
        _sensor("sds-3", "sds011", "pmst-1"),
        _sensor("pmst-1", "pms5003t"),
        _sensor("pmst-2", "pms5003t"),
        _sensor("pms-3", "pms5003", "pmst-2"),
        _sensor("co2-1", "mhz19"),
        _sensor("co2-2", "mhz19"),
    ]
    return {
        "name": "bench_8",
        "description": "8 sensors; PM2.5 8 -> 60 ug/m3 and CO2 600 -> 1400 ppm at t = 40-90 s",
        "seed": 2024,
        "duration_s": DURATION_S,
        "sensors": sensors,
    }


@dataclass(frozen=True, slots=True)
class SiteResult:
    """What figure 2 measured."""

    cpu_pct: float
    peak_rss_mib: float
    events: int
    window_s: float


def measure(workdir: Path) -> SiteResult:
    """Run the gateway against the 8-sensor site for WINDOW_S seconds of real time."""
    broker = Mosquitto(workdir / "broker").start()
    site = SimulatedSite(parse_scenario(scenario()), workdir / "sim", time_scale=1.0, pace=True)
    try:
        site.open_ports()
        config = site.write_gateway_config(
            workdir / "gateway.yaml", broker.host, broker.port, workdir / "storage", health_interval_s=10
        )
        with Listener(broker.port, "city/v1/#") as listener, GatewayProcess(config, workdir / "gw.log") as gw:
            if not site.wait_until_opened(OPEN_TIMEOUT_S):
                raise OSError(f"the gateway did not open every port:\n{gw.log_tail()}")
            site.start()
            time.sleep(SETTLE_S)
            cpu0, t0, start = gw.cpu_s(), time.monotonic(), time.time()
            time.sleep(WINDOW_S)
            cpu1, t1, end = gw.cpu_s(), time.monotonic(), time.time()
            rss = gw.peak_rss_kib()
            if not gw.alive():
                raise OSError(f"the gateway died:\n{gw.log_tail()}")
            events = [m for m in listener.snapshot() if "/events/" in m[1] and start <= m[0] <= end]
    finally:
        site.close()
        broker.stop()
    return SiteResult(100.0 * (cpu1 - cpu0) / (t1 - t0), rss / 1024, len(events), t1 - t0)


def run(workdir: Path) -> tuple[list[Figure], SiteResult]:
    """Figure 2, and the raw result (its event rate sizes figure 4's realistic backlog)."""
    seconds = SETTLE_S + WINDOW_S
    print(f"figure 2: gateway with 8 sensors at real time, ~{seconds:.0f} s ...", file=sys.stderr)
    result = measure(workdir)
    cpu = (
        f"gateway process utime+stime (/proc/<pid>/stat, all threads) / wall time, {WINDOW_S:.0f} s window from "
        f"{SETTLE_S:.0f} s after power-on; 3 sds011 + 3 pms5003(t) + 2 mhz19, paced 9600 baud, real time, PM and CO2 rising"
    )
    rss = "VmHWM (peak resident set) of the gateway process, /proc/<pid>/status, at the end of the [2] window"
    figures = [
        Figure("site.cpu_pct", "gateway CPU, 8 sensors, real time", result.cpu_pct, "% of 1 core", cpu),
        Figure("site.peak_rss_mib", "gateway peak RSS, 8 sensors", result.peak_rss_mib, "MiB", rss),
    ]
    return figures, result
