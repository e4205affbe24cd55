"""Talking to the board: the serial port through mpremote, the raw REPL, what the board says it is."""

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast

from gateway.tools.flash.job import (
    BOARDS,
    INSTALL_HINT,
    MPY_MAJOR,
    BoardBusy,
    FlashError,
    FlashOptions,
    FlashReport,
    NoMicroPython,
    PortMissing,
)


class _Serial(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    def inWaiting(self) -> int: ...  # pyserial's name, used by mpremote


class Transport(Protocol):
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


def transport_errors() -> tuple[type[Exception], ...]:
    from mpremote.transport import TransportError  # type: ignore[import-untyped]  # mpremote ships no types

    return (TransportError,)


def _is_url(port: str) -> bool:
    return "://" in port


@contextlib.contextmanager
def connect(options: FlashOptions) -> Iterator[Transport]:
    """An open transport in the raw REPL, or the FlashError that says why not."""
    check_port(options)
    held = [_open(options)]
    try:
        _probe(held, options)
        _enter_raw(held[0], options)
        yield held[0]
    finally:
        with contextlib.suppress(OSError, *transport_errors()):
            held[0].close()


def check_port(options: FlashOptions) -> None:
    """PortMissing unless the port exists (URLs such as rfc2217:// are left to pyserial)."""
    if not _is_url(options.port) and not Path(options.port).exists():
        raise PortMissing(f"no serial port at {options.port}", _port_hint(options))


def _open(options: FlashOptions) -> Transport:
    from mpremote.transport_serial import SerialTransport  # type: ignore[import-untyped]  # no types

    try:
        return cast(Transport, SerialTransport(options.port, baudrate=115200))
    except transport_errors() as exc:
        raise BoardBusy(
            f"{options.port} is busy: another program holds it open ({exc})",
            "close the serial monitor, Thonny, mpremote or gateway that uses it, then flash again",
        ) from None


def _reopen(held: list[Transport], options: FlashOptions, deadline: float) -> None:
    """The port vanished (a native-USB board resetting): wait for it to come back, open it again."""
    with contextlib.suppress(OSError, *transport_errors()):
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


def _read_for(transport: Transport, seconds: float, until: bytes) -> bytes:
    data = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and until not in data:
        waiting = transport.serial.inWaiting()
        data += transport.serial.read(waiting) if waiting else b""
        if not waiting:
            time.sleep(0.01)
    return data


def _probe(held: list[Transport], options: FlashOptions) -> None:
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


def _enter_raw(transport: Transport, options: FlashOptions) -> None:
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):  # mpremote prints what it got when it fails
            transport.enter_raw_repl(soft_reset=True, timeout_overall=options.timeout_s)
    except transport_errors() as exc:
        raise BoardBusy(
            f"MicroPython on {options.port} did not enter the raw REPL ({exc}; {said.getvalue().strip()[:80]})",
            "press RESET on the board and run flash again",
        ) from None


def evaluate(transport: Transport, expression: str) -> Any:
    try:
        return transport.eval(expression)
    except transport_errors() as exc:
        raise FlashError(f"the board failed on {expression!r}: {exc}") from None


def board_facts(transport: Transport, options: FlashOptions, report: FlashReport) -> None:
    """Platform, .mpy version and unique id; refuse a board that is not what --board says."""
    transport.exec("import sys, machine, binascii")
    platform, mpy, version = evaluate(transport, "(sys.platform, sys.implementation._mpy, sys.version)")
    report.uid = evaluate(transport, "binascii.hexlify(machine.unique_id()).decode()")
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
