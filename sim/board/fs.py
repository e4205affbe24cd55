"""The board's flash file system, kept in a host directory, with MicroPython's errors.

Board paths are absolute or relative to the board's working directory and never leave the root;
host errors become MicroPython's bare `OSError(errno)`.
"""

from __future__ import annotations

import contextlib
import errno
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _mp_errors() -> Iterator[None]:
    """MicroPython's OSError carries the errno alone (no host path, no strerror)."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno if exc.errno is not None else errno.EIO) from None


class BoardFs:
    """The board's flash file system, kept in a host directory."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.cwd = "/"

    def absolute(self, path: str) -> str:
        """A normalised absolute board path; `..` never leaves the root."""
        joined = posixpath.join(self.cwd, path) if path else self.cwd
        return posixpath.normpath("/" + joined.lstrip("/"))

    def host(self, path: str) -> Path:
        """Where a board path lives on the host."""
        return self.root / self.absolute(path).lstrip("/")

    def ilistdir(self, path: str = "") -> Iterator[tuple[str, int, int, int]]:
        """(name, type, inode, size) as littlefs reports them: 0x4000 dirs, 0x8000 files."""
        with _mp_errors():
            entries = sorted(self.host(path).iterdir())
        for entry in entries:
            if entry.is_dir():
                yield (entry.name, 0x4000, 0, 0)
            else:
                yield (entry.name, 0x8000, 0, entry.stat().st_size)

    def stat(self, path: str) -> tuple[int, ...]:
        """MicroPython's 10-tuple: no permission bits, only the type."""
        with _mp_errors():
            st = self.host(path).stat()
        mode = 0x4000 if self.host(path).is_dir() else 0x8000
        mtime = int(st.st_mtime)
        return (mode, 0, 0, 0, 0, 0, 0 if mode == 0x4000 else st.st_size, mtime, mtime, mtime)

    def call(self, action: Callable[[], object]) -> None:
        """Run a host file operation, translating its error."""
        with _mp_errors():
            action()

    def open(self, path: str, mode: str = "r", *args: object, **kwargs: object) -> Any:
        """Open a board file; text mode does no newline translation (as MicroPython)."""
        binary = "b" in mode
        with _mp_errors():
            if binary:
                return self.host(path).open(mode)
            return self.host(path).open(mode, encoding="utf-8", newline="")

    def chdir(self, path: str) -> None:
        """Change the working directory."""
        if not self.host(path).is_dir():
            raise OSError(errno.ENOENT)
        self.cwd = self.absolute(path)
