"""Figure 3: latency from a frame's last byte on the pty to its `air.band_changed` at a subscriber.

How the detector decides (gateway/air/detector.py, with sim_time_scale = SCALE): a band
is decided on the mean of the readings in the last window_s/SCALE seconds once min_readings are
in it; a rise is reported at once, a fall only after the lower band has held band_fall_hold_s/SCALE.
So each cycle writes, one write per burst of min_readings SDS011 frames:
  HIGH burst                  -> rise to extremely_poor, decided on the burst's last frame;
  (window passes) LOW burst   -> the fall starts its hold, no event;
  (hold passes) LOW burst     -> fall to good, decided on this burst's first frame.
The gaps exceed the window, so a burst's mean never mixes two levels. The trigger time is
time.time() right after the triggering write; the arrival time is time.time() in the
subscriber's message callback; both clocks are this process's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.air.detector import AirQualitySettings
from gateway.air.eaqi import BANDS, EAQI_2017, overall_band
from sim.broker import Mosquitto
from sim.serial.encoders import sds011_data
from sim.serial.pty import VirtualPort
from tests.bench.listener import Listener
from tests.bench.procs import GatewayProcess, write_config
from tests.bench.report import Figure

SCALE = 1000.0  # window 300 s -> 0.3 s, fall hold 120 s -> 0.12 s
SAMPLES = 300  # trigger writes to make (after the warm-up cycles)
WARMUP_CYCLES = 2  # the first decisions start from "no band"; not counted
MARGIN_S = 0.12  # added to every wait: gateway timestamp jitter must not mix bursts
# The gateway's own status (readiness) and gemeente's band changes (the default policy's grant).
TOPIC = "city/v1/#"
# PM2.5/PM10 in 0.1 ug/m3. HIGH stays within the spike filter's jump_abs (100 ug/m3 for PM2.5,
# 150 for PM10) of LOW, so the step is taken as real air, never dropped as an isolated spike.
LOW = (30, 50)
HIGH = (1000, 1000)

_SETTINGS = AirQualitySettings()
BURST = _SETTINGS.min_readings
WINDOW_GAP_S = _SETTINGS.window_s / SCALE + MARGIN_S
HOLD_GAP_S = _SETTINGS.band_fall_hold_s / SCALE + MARGIN_S / 2


def band_of(level: tuple[int, int]) -> str:
    """The EAQI band the detector reports for a window full of `level` (PM in 0.1 ug/m3)."""
    return BANDS[overall_band(level[0] / 10, level[1] / 10, EAQI_2017)[0]]


def burst(level: tuple[int, int]) -> bytes:
    """BURST identical SDS011 frames at one level."""
    return sds011_data(level[0], level[1], 0x1234) * BURST


@dataclass(frozen=True, slots=True)
class Trigger:
    """A write that must cause a band change."""

    t: float
    band: str


def config(workdir: Path, port: int, link: Path) -> dict[str, object]:
    """One SDS011 at time scale SCALE; offline_after_s long enough that the idle gaps are not outages."""
    sensor = {"id": "pm-1", "type": "sds011", "port": str(link), "warmup_s": 0, "offline_after_s": 60 * SCALE}
    return {
        "site": "bench",
        "gateway": "gw-latency",
        "mqtt": {"host": "127.0.0.1", "port": port, "prefix": "city"},
        "storage": str(workdir / "storage"),
        "sim_time_scale": SCALE,
        "sensors": [sensor],
        "cameras": [],
    }


def cycle(port: VirtualPort, triggers: list[Trigger]) -> None:
    """One rise and one fall (two triggers)."""
    port.write(burst(HIGH))
    triggers.append(Trigger(time.time(), band_of(HIGH)))
    time.sleep(WINDOW_GAP_S)
    port.write(burst(LOW))
    time.sleep(HOLD_GAP_S)
    port.write(burst(LOW))
    triggers.append(Trigger(time.time(), band_of(LOW)))
    time.sleep(WINDOW_GAP_S)


def pair(triggers: list[Trigger], events: list[tuple[float, str]]) -> tuple[list[float], int, int]:
    """(latencies, triggers with no event, events with no trigger), pairing in order by band.

    An event pairs with the first unpaired trigger of its band written before it and at most one
    gap earlier; triggers passed over were missed.
    """
    latencies: list[float] = []
    unexpected = i = 0
    for t_recv, band in events:
        j = next(
            (k for k in range(i, len(triggers)) if triggers[k].band == band and triggers[k].t <= t_recv),
            None,
        )
        if j is None or t_recv - triggers[j].t > WINDOW_GAP_S:
            unexpected += 1
            continue
        latencies.append(t_recv - triggers[j].t)
        i = j + 1
    return latencies, len(triggers) - len(latencies), unexpected


def _wait_ready(port: VirtualPort, listener: Listener, gw: GatewayProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not (
        port.in_use and any(m[1].endswith("/status") and m[2] == b"online" for m in listener.snapshot())
    ):
        if time.monotonic() > deadline or not gw.alive():
            raise OSError(f"the gateway did not open its port and connect:\n{gw.log_tail()}")
        time.sleep(0.02)


def _band_events(listener: Listener, since: float) -> list[tuple[float, str]]:
    return [
        (t, str(json.loads(payload)["data"]["band"]))
        for t, topic, payload in listener.snapshot()
        if t >= since and topic.endswith("/events/air.band_changed")
    ]


def measure(workdir: Path) -> tuple[list[float], int, int]:
    """Run the cycles against a gateway process; (latencies, missed, unexpected)."""
    broker = Mosquitto(workdir / "broker").start()
    port = VirtualPort(workdir / "dev" / "pm-1", pace=False)
    try:
        path = write_config(workdir / "gateway.yaml", config(workdir, broker.port, port.link))
        with Listener(broker.port, TOPIC) as listener, GatewayProcess(path, workdir / "gw.log") as gw:
            _wait_ready(port, listener, gw)
            for _ in range(WARMUP_CYCLES):
                cycle(port, [])
            since = time.time()
            triggers: list[Trigger] = []
            while len(triggers) < SAMPLES:
                cycle(port, triggers)
            time.sleep(1.0)  # stragglers
            paired = pair(triggers, _band_events(listener, since))
            if not paired[0]:
                raise OSError(f"no air.band_changed event matched a trigger:\n{gw.log_tail()}")
            return paired
    finally:
        port.close()
        broker.stop()


def run(workdir: Path) -> list[Figure]:
    """Figure 3."""
    seconds = SAMPLES / 2 * (2 * WINDOW_GAP_S + HOLD_GAP_S)
    print(f"figure 3: pty -> subscriber latency, {SAMPLES} triggers, ~{seconds:.0f} s ...", file=sys.stderr)
    latencies, missed, unexpected = measure(workdir)
    ms = sorted(1000 * x for x in latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    method = (
        f"subscriber on_message time.time() - time.time() after the one pty write of {BURST} sds011 frames that "
        f"decides an air.band_changed ({band_of(HIGH)}/{band_of(LOW)} alternately, sim_time_scale {SCALE:g}): "
        "pty, decoder, detector, SQLite outbox, MQTT QoS 1 via Mosquitto"
    )
    count = f"latency samples (missed {missed}, unpaired {unexpected})"
    return [
        Figure("latency.p50_ms", "latency pty -> subscriber, p50", cuts[49], "ms", method),
        Figure("latency.p99_ms", "latency pty -> subscriber, p99", cuts[98], "ms", method),
        Figure("latency.samples", count, len(ms), "events", method),
    ]
