"""Putting files on the board and checking them there: copy, sha256 verify, self-test, restart."""

import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from gateway.sources.protocols.node import Info, NodeDecoder
from gateway.tools.flash.job import (
    CHUNK,
    SOURCE_FILES,
    BoardFile,
    FlashError,
    FlashOptions,
    FlashReport,
    VerifyFailed,
)
from gateway.tools.flash.link import Transport, evaluate, transport_errors

HELLO_S = 10.0  # a board boots its firmware in 1-2 s; MicroPython's own start-up can take longer


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


def copy_files(transport: Transport, files: list[BoardFile], console: Console) -> None:
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
            except transport_errors() as exc:
                raise FlashError(
                    f"copying {f.path} failed: {exc}", "check the cable, then flash again"
                ) from None
            progress.update(task, completed=start + len(f.data))


def verify(transport: Transport, files: list[BoardFile]) -> int:
    """sha256 of every file, computed by the board itself; VerifyFailed naming the differing ones."""
    transport.exec(_given(_paths=[f.path for f in files]) + _HASHES)
    on_board = evaluate(transport, "_r")
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


def self_test(transport: Transport, options: FlashOptions, report: FlashReport) -> None:
    """The firmware's own self-test (main.self_test(): one JSON line); without one, import each driver."""
    drivers = [(name, DRIVER_MODULES[name]) for name in options.sensors]
    failures: tuple[type[Exception], ...] = (*transport_errors(), ValueError, IndexError)
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


def restart(transport: Transport, report: FlashReport, wait_s: float = HELLO_S) -> None:
    """Leave the raw REPL and soft-reset into the new firmware (main.py); wait for its `hello`, so
    the node is running when the technician's next command reaches it."""
    transport.exit_raw_repl()
    transport.serial.write(b"\x04")
    decoder = NodeDecoder()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        waiting = transport.serial.inWaiting()
        if not waiting:
            time.sleep(0.01)
            continue
        for item in decoder.feed(transport.serial.read(waiting)):
            if isinstance(item, Info) and item.kind == "hello":
                report.hello = dict(item.body)
                return
    report.self_test_note += (
        f"{'; ' if report.self_test_note else ''}no hello from the firmware within {wait_s:g} s"
    )
