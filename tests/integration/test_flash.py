"""`edge-gateway flash` end to end against `edge-sim board`, with the repository's own firmware/.

The technician's command compiles firmware/ with mpy-cross, copies it through mpremote onto the
simulated ESP32's pty, checks every file's sha256 on the board, runs the firmware's self-test and
prints the report. The flashed firmware then runs as a virtual node: the gateway's own decoder and
link layer read its packets and command it to reboot. The usual failures (wrong port, a port held
by another program, a board without MicroPython, the wrong --board) each get their clear message.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import serial
import typer
from rich.console import Console
from typer.testing import CliRunner

from gateway.messages import Event
from gateway.security.signing import generate_signing_key
from gateway.sources.node_link import NodeLink
from gateway.sources.protocols.node import Info, NodeDecoder, NodeSample
from gateway.tools.flash import FIRMWARE_DIR, FlashOptions, VerifyFailed, connect, flash, main, verify
from gateway.tools.flash import BoardFile as FlashedFile
from sim.board import Board, mpy_source_name
from tests.firmware_images import SignedImages, signed_images

pytestmark = pytest.mark.integration

TIME_SCALE = 10.0  # board seconds per wall second: the self-test's 3 s take 0.3 s
DEADLINE_S = 8.0


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> SignedImages:
    """The firmware images flash puts on boards, signed with a test key."""
    return signed_images(tmp_path_factory.mktemp("firmware"))


def opts(
    signed: SignedImages, port: str | Path, board: str, node_id: str, *sensors: str, **kw: Any
) -> FlashOptions:
    """FlashOptions for the signed test images."""
    kw.setdefault("public_key", signed.public_key)
    return FlashOptions(str(port), board, node_id, sensors, signed.images, **kw)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    """A simulated ESP32 with MicroPython and nothing else, sensors wired as its config will say."""
    with Board(tmp_path / "board", "esp32", firmware=FIRMWARE_DIR, time_scale=TIME_SCALE) as sim:
        yield sim


def cli(*args: str) -> tuple[int, str]:
    """Run the typer command as `edge-gateway flash ...` would."""
    app = typer.Typer()
    app.command()(flash)
    app.command("other")(lambda: None)  # two commands: typer keeps `flash` as a subcommand name
    result = CliRunner().invoke(app, ["flash", *args], terminal_width=400)
    return result.exit_code, result.output


def flash_quietly(options: FlashOptions) -> tuple[int, str]:
    out = StringIO()
    code = main(options, Console(file=out, width=400))
    return code, out.getvalue()


def test_flash_end_to_end(board: Board, signed: SignedImages) -> None:
    code, output = cli(
        "--port", str(board.path), "--board", "esp32", "--node-id", "node-0042",
        "--sensors", "pms5003,bme280", "--sensors", "rain",
        "--firmware", str(signed.images), "--public-key", str(signed.public_key),
    )  # fmt: skip
    assert code == 0, output
    fs = board.fs.root
    files = [p for p in fs.rglob("*") if p.is_file()]
    assert f"sha256 verified on the board: {len(files)}/{len(files)}" in output
    for sensor in ("pms5003", "bme280", "rain"):
        assert any(line.split()[1:3] == [sensor, "│"] and "ok" in line for line in output.splitlines()), (
            output
        )
    assert (fs / "main.py").read_bytes() == (FIRMWARE_DIR / "main.py").read_bytes()
    assert {p.relative_to(fs).as_posix() for p in files} >= {
        "lib/node/app.mpy",
        "lib/pms5003.mpy",
        "config.json",
    }
    for mpy in fs.rglob("*.mpy"):  # each compiled from the firmware file it names
        assert (FIRMWARE_DIR / str(mpy_source_name(mpy.read_bytes()))).is_file()
    config = json.loads((fs / "config.json").read_text())
    assert config["node"] == "node-0042" and set(config["sensors"]) == {"pms5003", "bme280", "rain"}
    ident = json.loads((fs / "identity.json").read_text())
    assert (ident["node"], ident["uid"], ident["board"]) == ("node-0042", board.uid.hex(), "esp32")


def test_flash_with_pins_interval_and_duty_cycle(board: Board, signed: SignedImages) -> None:
    """Moved pins, a 30 s interval and a 25 % fan duty cycle land in /config.json; the node boots
    it without a config error and its sensors answer on the moved pins."""
    code, output = cli(
        "--port", str(board.path), "--board", "esp32", "--node-id", "node-0043",
        "--sensors", "pms5003,bme280", "--interval", "30", "--pin", "bme280.sda=25",
        "--pin", "bme280.scl=26", "--pin", "pms5003.rx=4", "--duty-cycle", "0.25",
        "--firmware", str(signed.images), "--public-key", str(signed.public_key),
    )  # fmt: skip
    assert code == 0, output
    config = json.loads((board.fs.root / "config.json").read_text())
    assert config["interval_s"] == 30
    assert config["sensors"]["bme280"] == {"i2c": 0, "scl": 26, "sda": 25, "addr": 118}
    assert config["sensors"]["pms5003"] == {"uart": 1, "tx": 17, "rx": 4}
    assert config["duty"] == {"pms5003": {"on_s": 30, "every_s": 120}}
    rows = [line for line in output.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and all("ok" in row for row in rows), output
    assert "config error" not in output
    snippet = f"{{id: node-0043, type: node, port: {board.path}, node_id: node-0043, node_sensors: [pms5003, bme280]}}"
    assert snippet in output


def read_packets(
    port: serial.Serial, link: NodeLink, until: Callable[[NodeSample | Info, list[Event]], bool]
) -> tuple[list[NodeSample | Info], list[Event]]:
    """Decode the node's output through the gateway's decoder and link until `until` holds."""
    decoder = NodeDecoder()
    packets: list[NodeSample | Info] = []
    events: list[Event] = []
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        for item in decoder.feed(port.read(max(1, port.in_waiting))):
            if isinstance(item, NodeSample | Info):
                packets.append(item)
                events += link.on_packet(item).events
                if until(item, events):
                    return packets, events
    raise AssertionError(f"gave up after {packets}")


def test_flashed_firmware_runs_as_a_virtual_node(board: Board, signed: SignedImages) -> None:
    options = opts(signed, board.path, "esp32", "node-0007", "bme280", "pms5003", interval_s=5)
    code, output = flash_quietly(options)
    assert code == 0, output
    link = NodeLink("kade-7", expected_node="node-0007")
    with serial.serial_for_url(str(board.path), baudrate=115200, timeout=0.05) as port:
        packets, _ = read_packets(port, link, lambda p, e: isinstance(p, NodeSample))
        reading = packets[-1]
        assert isinstance(reading, NodeSample)
        truth = board.truth(board.cpu.now())
        assert abs(reading.values["temperature"] - truth["temperature"]) < 0.5
        assert abs(reading.values["pressure"] - truth["pressure"]) < 0.5
        assert abs(reading.values["humidity"] - truth["humidity"]) < 1.0
        if "warming_up" not in reading.key_flags.get("pm25", ()):  # zero frames while the fan spins up
            assert 0 < reading.values["pm25"] < 2 * truth["pm25"]
        cmd_id, wire = link.command("reboot")
        port.write(wire)
        _, events = read_packets(port, link, lambda p, e: any(ev.type == "node.rebooted" for ev in e))
    result = link.result(cmd_id)
    assert result is not None and result.ok
    [rebooted] = [e.data for e in events if e.type == "node.rebooted"]
    # The simulated ESP32's ROM prints its reset banner first; the firmware's 0x00 before `hello`
    # closes it off, so the reboot is known by its hello, with machine.reset()'s real cause.
    assert (rebooted["detected_by"], rebooted["reset_cause"]) == ("hello", "hard")
    assert rebooted["fw"] == "1.1.0"


def test_report_names_the_sensor_that_did_not_answer(tmp_path: Path, signed: SignedImages) -> None:
    """Only the BME280 is wired: the firmware's self-test finds no PMS5003, and flash exits 3."""
    with Board(tmp_path / "b", "rp2", {"bme280"}, FIRMWARE_DIR, TIME_SCALE) as sim:
        code, output = flash_quietly(opts(signed, sim.path, "rp2", "node-0010", "bme280", "pms5003"))
        assert code == 3, output
        rows = {line.split()[1]: line for line in output.splitlines() if line.startswith("│")}
        assert "ok" in rows["bme280"] and "no answer" in rows["pms5003"]
        # Again, over the running firmware: it ignores Ctrl-C, answers the break by rebooting into
        # maintenance mode, and the RP2040's USB port drops out meanwhile; flash reconnects.
        code, output = flash_quietly(opts(signed, sim.path, "rp2", "node-0011", "bme280"))
        assert code == 0, output
    assert "node-0011 flashed" in output


def test_a_changed_file_fails_verification(board: Board, signed: SignedImages) -> None:
    code, output = flash_quietly(opts(signed, board.path, "esp32", "node-0009"))
    assert code == 0, output
    (board.fs.root / "lib" / "node" / "app.mpy").write_bytes(b"M\x06 tampered")
    main_py = board.fs.root / "main.py"
    files = [FlashedFile("/main.py", main_py.read_bytes()), FlashedFile("/lib/node/app.mpy", b"original")]
    with connect(FlashOptions(str(board.path), "esp32", "node-0009", timeout_s=5)) as transport:
        with pytest.raises(VerifyFailed, match=r"/lib/node/app\.mpy$"):
            verify(transport, files)
        assert verify(transport, files[:1]) == 1
    assert hashlib.sha256(main_py.read_bytes()).hexdigest() == files[0].sha256


def test_an_unsigned_or_foreign_image_is_refused_before_anything_is_copied(
    board: Board, signed: SignedImages, tmp_path: Path
) -> None:
    code, output = cli(
        "--port", str(board.path), "--board", "esp32", "--node-id", "node-1",
        "--firmware", str(FIRMWARE_DIR), "--public-key", str(signed.public_key),
    )  # fmt: skip
    assert code == 1 and "is not a signed firmware image" in " ".join(output.split()), output
    generate_signing_key(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    code, output = flash_quietly(
        opts(signed, board.path, "esp32", "node-1", public_key=tmp_path / "other.pub.pem")
    )
    assert code == 1 and "firmware image refused" in output and "signature does not match" in output, output
    assert not (board.fs.root / "main.py").exists()


def test_wrong_port_says_so_before_compiling(tmp_path: Path) -> None:
    started = time.monotonic()
    code, output = flash_quietly(FlashOptions(str(tmp_path / "ttyUSB9"), "esp32", "node-1"))
    assert code == 1
    assert f"no serial port at {tmp_path / 'ttyUSB9'}" in output
    assert "check the cable and the --port" in output
    assert "compiled" not in output and time.monotonic() - started < 2


def test_rp2_wrong_port_mentions_the_uf2_step(tmp_path: Path) -> None:
    _, output = flash_quietly(FlashOptions(str(tmp_path / "ttyACM0"), "rp2", "node-1"))
    assert "hold BOOTSEL" in output and "RPI_PICO-<version>.uf2" in output


def test_board_busy_when_another_program_holds_the_port(board: Board, signed: SignedImages) -> None:
    with serial.serial_for_url(str(board.path), baudrate=115200, exclusive=True):
        code, output = flash_quietly(opts(signed, board.path, "esp32", "node-1"))
    assert code == 1
    assert f"{board.path} is busy: another program holds it open" in output


def test_board_without_micropython_gets_the_esptool_step(tmp_path: Path, signed: SignedImages) -> None:
    with Board(tmp_path / "blank", "blank") as blank:
        code, output = flash_quietly(opts(signed, blank.path, "esp32", "node-1", timeout_s=2))
    assert code == 1
    assert f"no MicroPython REPL on {blank.path}" in output
    assert "invalid header: 0xffffffff" in output  # what the ROM bootloader said
    assert (
        "esptool.py --chip esp32" in output and "write_flash -z 0x1000 ESP32_GENERIC-<version>.bin" in output
    )


def test_wrong_board_kind_is_refused(board: Board, signed: SignedImages) -> None:
    code, output = flash_quietly(opts(signed, board.path, "rp2", "node-1", "bme280"))
    assert code == 1
    assert "is 'esp32', not 'rp2'" in output and "--board esp32" in output
    assert not (board.fs.root / "main.py").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (FlashOptions("/dev/null", "esp8266", "node-1"), "--board must be one of esp32, rp2"),
        (FlashOptions("/dev/null", "esp32", "Node 1"), "--node-id must be 1-32 characters"),
        (FlashOptions("/dev/null", "esp32", "node-1", ("co2",)), "unknown sensor(s) co2"),
        (FlashOptions("/dev/null", "esp32", "node-1", ("pms5003", "sds011")), "choose one"),
        (FlashOptions("/dev/null", "esp32", "node-1", ("rain",), pins=("rain=2", "led=2")), "pin 2 is given"),
        (FlashOptions("/dev/null", "esp32", "node-1", interval_s=1), "--interval is 5..3600"),
    ],
)
def test_bad_options_are_named(options: FlashOptions, message: str) -> None:
    code, output = flash_quietly(options)
    assert code == 2 and message in output
