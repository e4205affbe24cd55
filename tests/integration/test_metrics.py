"""Prometheus metrics from a running gateway, scraped over real HTTP and parsed by prometheus-client.

Scenario: `edge-gateway run` with `metrics: {listen: 127.0.0.1:<free port>}` reads the simulated fog
site (an SDS011 corrected with the humidity of the PMS5003T beside it, on real pseudo-terminals) and
publishes to a real Mosquitto. A scrape shows both sources up with frames and readings counted, the
humidity model's inference times, the outbox, events per actor and a connected broker. The broker
then stops: the next scrapes say the gateway is no longer connected and is retrying, not rejected.
SIGTERM ends the gateway and its endpoint.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sim.broker import Mosquitto, free_port
from sim.scenario import load_scenario, scenario_path
from sim.site import SimulatedSite

BIN = Path(sys.executable).parent
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples | None:
    """Every sample by (name, sorted labels); None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def scrape_until(
    url: str, check: Callable[[Samples], bool], gateway: subprocess.Popen[bytes], log: Path
) -> Samples:
    """Scrape (bounded) until `check` holds on a scrape; fail with the gateway's log otherwise."""
    deadline = time.monotonic() + 45
    samples: Samples | None = None
    while time.monotonic() < deadline:
        assert gateway.poll() is None, log.read_text()[-3000:]
        samples = scrape(url)
        if samples is not None and check(samples):
            return samples
        time.sleep(0.2)
    raise AssertionError(f"last scrape: {samples}\n{log.read_text()[-3000:]}")


def test_a_running_gateway_serves_its_metrics(broker: Mosquitto, tmp_path: Path) -> None:
    site = SimulatedSite(load_scenario(scenario_path("fog")), tmp_path / "sim", time_scale=200, pace=False)
    site.open_ports()
    port = free_port()
    config = site.write_gateway_config(
        tmp_path / "gateway.yaml",
        broker.host,
        broker.port,
        tmp_path / "storage",
        metrics={"listen": f"127.0.0.1:{port}"},
        health_interval_s=0.5,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen(
            [BIN / "edge-gateway", "run", "--config", str(config)], stdout=out, stderr=out
        )
    try:
        assert site.wait_until_opened(30), log.read_text()[-3000:]
        site.start()

        def flowing(s: Samples) -> bool:
            inferences = value(s, "edge_gateway_inference_seconds_count", model="pm_humidity") or 0
            readings = [
                value(s, "edge_gateway_readings_total", source=x) or 0 for x in ("sds-fog", "pms-fog")
            ]
            events = sum(v for (name, _), v in s.items() if name == "edge_gateway_events_total")
            return inferences > 0 and min(readings) > 0 and events > 0

        samples = scrape_until(url, flowing, gateway, log)
        for source in ("sds-fog", "pms-fog"):
            assert value(samples, "edge_gateway_source_up", source=source, kind="sensor") == 1
            assert (value(samples, "edge_gateway_source_frames_total", source=source, kind="sensor") or 0) > 0
        assert value(samples, "edge_gateway_broker_connected") == 1
        assert value(samples, "edge_gateway_broker_rejected") == 0
        assert value(samples, "edge_gateway_outbox_depth") is not None
        assert value(samples, "edge_gateway_outbox_oldest_age_seconds") is not None
        assert (value(samples, "edge_gateway_inference_seconds_sum", model="pm_humidity") or 0) > 0
        actors = {
            dict(labels)["actor"]
            for (name, labels), _ in samples.items()
            if name == "edge_gateway_events_total"
        }
        assert actors <= {
            "gemeente",
            "bewoners",
        }  # only the actors the shipped policy gives air and sensor events
        info = [dict(labels) for (name, labels), _ in samples.items() if name == "edge_gateway_info"]
        assert info == [{"site": "sim-fog", "gateway": "gw-sim", "version": info[0]["version"]}]
        assert (value(samples, "process_resident_memory_bytes") or 0) > 0

        broker.stop()

        def retrying(s: Samples) -> bool:
            return (
                value(s, "edge_gateway_broker_connected") == 0
                and (value(s, "edge_gateway_outbox_depth") or 0) > 0
            )

        samples = scrape_until(url, retrying, gateway, log)
        assert value(samples, "edge_gateway_broker_rejected") == 0  # transient: it keeps trying
        assert (value(samples, "edge_gateway_outbox_oldest_age_seconds") or 0) > 0
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(20) == 0, log.read_text()[-3000:]
        assert scrape(url) is None  # the endpoint went with it
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
        site.close()
