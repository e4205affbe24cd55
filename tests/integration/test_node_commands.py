"""`edge-gateway node ...` and the doctor's node probe against a flashed, simulated ESP32.

Scenario: `edge-gateway flash` puts the repository's firmware on `edge-sim board` with a PMS5003 and
a BME280 wired; the board runs it as a node. A technician then asks it, on its port, to blink
(identify), to test its sensors, for its health, and to report every 60 s instead (kept in its
/config.json). A port held by another program, a node with another id, and an interval out of
range each get their one-line answer. `edge-gateway doctor` finds the node on its port and
compares its sensors with the config's `node_sensors`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
import serial
from rich.console import Console
from typer.testing import CliRunner

from gateway.tools.cli import app
from gateway.tools.doctor import Status
from gateway.tools.doctor.checks import run_checks
from gateway.tools.flash import FIRMWARE_DIR, FlashOptions, main
from sim.board import Board
from tests.firmware_images import signed_images

TIME_SCALE = 10.0


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """One flashed node for the whole module (flashing takes seconds)."""
    with Board(tmp_path_factory.mktemp("node") / "board", "esp32", None, FIRMWARE_DIR, TIME_SCALE) as sim:
        out = StringIO()
        signed = signed_images(tmp_path_factory.mktemp("firmware"))
        options = FlashOptions(
            str(sim.path),
            "esp32",
            "node-0042",
            ("pms5003", "bme280"),
            signed.images,
            interval_s=30,
            public_key=signed.public_key,
        )
        assert main(options, Console(file=out, width=300)) == 0, out.getvalue()
        yield sim


def node(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["node", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_identify(board: Board) -> None:
    code, output = node("identify", str(board.path))
    assert code == 0, output
    assert output.strip() == f"node-0042 on {board.path}: blinking for 10 s"


def test_self_test_lists_every_sensor(board: Board) -> None:
    code, output = node("self-test", str(board.path))
    assert code == 0, output
    rows = {line.split()[1]: line.split()[3] for line in output.splitlines() if line.startswith("│")}
    assert rows == {"bme280": "ok", "pms5003": "ok"}


def test_health_asks_for_a_health_packet_now(board: Board) -> None:
    code, output = node("health", str(board.path))
    assert code == 0, output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in output.splitlines() if "│" in line
    }
    assert rows["interval"] in ("30 s", "60 s")  # 60 once test_set_interval has run
    assert rows["free memory"].endswith(" bytes") and rows["sensor errors"] == "none"
    assert rows["last reset"] in ("soft", "hard", "power_on")


def test_set_interval_is_kept_in_the_node_config(board: Board) -> None:
    code, output = node("set-interval", str(board.path), "60")
    assert code == 0, output
    assert output.strip() == f"node-0042 on {board.path}: interval 60 s, saved"
    assert json.loads((board.fs.root / "config.json").read_text())["interval_s"] == 60
    code, output = node("set-interval", str(board.path), "4")
    assert code == 2 and "greater than or equal to 5" in output


def test_another_node_id_is_not_answered_for(board: Board) -> None:
    code, output = node("identify", str(board.path), "--node-id", "node-0099", "--timeout", "1")
    assert code == 1
    assert "a node with another id answers (expected node-0099)" in output


def test_a_busy_port_says_who_to_stop(board: Board) -> None:
    with serial.serial_for_url(str(board.path), baudrate=115200, exclusive=True):
        code, output = node("health", str(board.path))
    assert code == 1
    assert f"{board.path} is busy: a running gateway or another program holds it" in output


def test_a_missing_port(tmp_path: Path) -> None:
    code, output = node("identify", str(tmp_path / "ttyACM7"))
    assert code == 1 and f"no serial port at {tmp_path / 'ttyACM7'}" in output


def write_config(tmp_path: Path, board: Board, node: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"site: kade\ngateway: gw-1\nmqtt: {{host: 127.0.0.1, port: 1}}\nstorage: {tmp_path}\n"
        f"sensors:\n  - {{id: node-kade, type: node, port: {board.path}, {node}}}\n"
    )
    return path


@pytest.mark.parametrize(
    ("node_config", "status", "found", "action"),
    [
        ("node_id: node-0042, node_sensors: [pms5003, bme280]", Status.OK, "sensors: bme280, pms5003", ""),
        ("node_id: node-0042", Status.WARN, "node node-0042 answers", "add sensors[0].node_sensors"),
        ("node_id: node-0042, node_sensors: [bme280]", Status.WARN, "the config says bme280", "node_sensors"),
        ("node_id: node-0007", Status.FAIL, "config expects node_id node-0007", "set sensors[0].node_id"),
    ],
)
def test_doctor_finds_the_node_and_compares_it(
    tmp_path: Path, board: Board, node_config: str, status: Status, found: str, action: str
) -> None:
    findings = run_checks(write_config(tmp_path, board, node_config))
    [port] = [f for f in findings if f.check == "serial"]
    assert port.status is status, port
    assert found in port.found and action in port.action
