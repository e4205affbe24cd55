"""A flashed virtual sensor node reports through a gateway process to a real Mosquitto.

Scenario, as a technician would do it: `edge-gateway flash` puts the repository's firmware (as a
signed image, built and signed here with a test key) on a
simulated ESP32 (pty, raw REPL, mpremote); the board then runs it as a node with a PMS5003 and a
BME280 wired; a gateway configured with `type: node` on the same port decodes its packets and the
municipality receives the node's air-quality band, humidity-corrected with the node's own BME280.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from gateway.tools.flash import FIRMWARE_DIR
from sim.board import Board
from sim.broker import Mosquitto
from tests.firmware_images import signed_images
from tests.mqtt_helpers import Recorder

BIN = Path(sys.executable).parent
TIME_SCALE = 10.0


def test_flashed_node_reports_through_the_gateway(tmp_path: Path, broker: Mosquitto) -> None:
    signed = signed_images(tmp_path / "firmware")
    with Board(tmp_path / "board", "esp32", firmware=FIRMWARE_DIR, time_scale=TIME_SCALE) as board:
        flashed = subprocess.run(
            [BIN / "edge-gateway", "flash", "--port", str(board.path), "--board", "esp32",
             "--node-id", "node-0042", "--sensors", "pms5003,bme280",
             "--firmware", str(signed.images), "--public-key", str(signed.public_key)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert flashed.returncode == 0, flashed.stdout + flashed.stderr
        config = {
            "site": "sim-node",
            "gateway": "gw-sim",
            "mqtt": {"host": broker.host, "port": broker.port, "prefix": "city"},
            "storage": str(tmp_path / "storage"),
            "sim_time_scale": TIME_SCALE,
            "health_interval_s": 0.5,
            "sensors": [{"id": "node-hall", "type": "node", "port": str(board.path), "node_id": "node-0042"}],
        }
        path = tmp_path / "gateway.yaml"
        with path.open("w") as fh:
            YAML(typ="safe", pure=True).dump(config, fh)
        recorder = Recorder(broker.host, broker.port, "city/v1/#")
        log = (tmp_path / "gateway.log").open("wb")
        gateway = subprocess.Popen(
            [BIN / "edge-gateway", "run", "--config", str(path)], stdout=log, stderr=log
        )
        try:
            recorder.wait_for(
                lambda m: any(
                    '"air.band_changed"' in x.payload.decode() for x in m if "/gemeente/" in x.topic
                ),
                timeout=90,
            )
            events = [e for e in recorder.events() if e.get("actor") == "gemeente"]
            band = next((e for e in events if e["type"] == "air.band_changed"), None)
            assert band is not None, (tmp_path / "gateway.log").read_text()[-3000:]
            assert band["source"] == "node-hall"
            assert band["data"]["corrected"] is True  # the node's own BME280 humidity was used
            assert "uncorrected" not in band["quality"]
            health = [m.json() for m in recorder.messages if m.topic.endswith("/sources/node-hall/status")]
            assert health and health[-1]["frames_ok"] > 0
        finally:
            gateway.terminate()
            gateway.wait(20)
            log.close()
            recorder.close()
