"""A gateway process publishes over mutual TLS to a Mosquitto that enforces the generated ACL.

Scenario, as a technician and an operator would do it: `edge-gateway provision --local-ca` makes the
device key, CSR and certificate; `edge-gateway broker-acl` writes the ACL from the gateway's config
and policy; Mosquitto requires client certificates; the gateway runs a simulated site; the
municipality's actor certificate receives its projection, and the broker never refused the gateway.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ruamel.yaml import YAML

from gateway.tools.pki import identity_actor
from sim.scenario import load_scenario, scenario_path
from sim.site import SimulatedSite
from tests.secure_broker import Ca, SecureMosquitto, TlsClient, issue

BIN = Path(sys.executable).parent


def edge_gateway(*args: str) -> str:
    done = subprocess.run(
        [BIN / "edge-gateway", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gateway_over_mtls_with_the_generated_acl(tmp_path: Path) -> None:
    ca = Ca.create(tmp_path / "ca")
    site = SimulatedSite(
        load_scenario(scenario_path("co2_full_room")), tmp_path / "sim", time_scale=200, pace=False
    )
    site.open_ports()
    config = tmp_path / "gateway.yaml"
    storage = tmp_path / "storage"
    site.write_gateway_config(config, "127.0.0.1", 1, storage)
    edge_gateway("provision", "--config", str(config), "--local-ca", str(tmp_path / "ca"))
    identity = f"gw.{site.gateway_config('', 0, storage)['site']}.gw-sim"
    tls_dir = storage / "tls"

    acl = edge_gateway("broker-acl", "--config", str(config), "--operator", "beheer")
    broker = SecureMosquitto(tmp_path / "broker", ca, acl).start()
    gemeente = TlsClient(broker, issue(ca, tmp_path / "actors", identity_actor("gemeente"))).connect()
    gemeente.subscribe("city/v1/gemeente/#")
    yaml = YAML(typ="safe", pure=True)
    data = yaml.load(config.read_text())
    data["mqtt"] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "prefix": "city",
        "tls": {
            "ca": str(ca.cert),
            "cert": str(tls_dir / f"{identity}.crt"),
            "key": str(tls_dir / f"{identity}.key"),
        },
    }
    with config.open("w") as fh:
        yaml.dump(data, fh)

    with (tmp_path / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen(
            [BIN / "edge-gateway", "run", "--config", str(config)], stdout=log, stderr=log
        )
    try:
        assert site.wait_until_opened(30)
        site.start()
        deadline = time.monotonic() + 60
        while not any(b'"air.co2_high"' in p for p in gemeente.payloads()):
            assert time.monotonic() < deadline, (tmp_path / "gateway.log").read_text()[-3000:]
            assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
            time.sleep(0.05)
        assert broker.wait_log("New client connected from 127.0.0.1", timeout=1)
        assert f"Denied PUBLISH from {identity}" not in broker.log()
    finally:
        gateway.terminate()
        gateway.wait(20)
        gemeente.close()
        site.close()
        broker.stop()
