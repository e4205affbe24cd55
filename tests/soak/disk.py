"""A small real filesystem for the gateway's storage that the soak can fill and free.

A tmpfs of a few MB is mounted over the storage directory inside a private mount namespace (in a user
namespace, so no root is needed where the kernel allows unprivileged user namespaces; as root, a plain
mount namespace is the fallback). A holder process keeps the namespace alive across gateway restarts;
the gateway is started inside it with `nsenter`, and the soak reaches the files through
/proc/<holder>/root. A full tmpfs fails writes with ENOSPC exactly as a full SD card does.

Where neither namespace can be made (a container without CAP_SYS_ADMIN and with user namespaces
blocked), `SmallDisk.open` returns the reason and the soak runs on an ordinary directory without the
disk fault.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

FILL_CHUNK = 1 << 16
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
# Ways to get a private mount namespace, the unprivileged one first.
NAMESPACES = (("--user", "--map-root-user", "--mount"), ("--mount",))


class SmallDisk:
    """A `size_mb` tmpfs at `path`, visible only to processes started through `command`."""

    def __init__(self, holder: subprocess.Popen[bytes], path: Path, enter: tuple[str, ...]) -> None:
        self._holder, self.path, self._enter = holder, path, enter
        self._filler = self.outside / ".soak-filler"

    @classmethod
    def open(cls, path: Path, size_mb: int) -> SmallDisk | str:
        """Mount the disk, or say why it cannot be done here."""
        path.mkdir(parents=True, exist_ok=True)
        reasons = []
        for flags in NAMESPACES:
            script = f'mount -t tmpfs -o size={size_mb}m soak "$0" && echo mounted && exec sleep infinity'
            holder = subprocess.Popen(
                [UNSHARE, *flags, "--propagation", "private", "sh", "-c", script, str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert holder.stdout is not None and holder.stderr is not None
            if holder.stdout.readline().strip() == b"mounted":
                holder.stdout.close()
                holder.stderr.close()
                user = ("--user",) if "--user" in flags else ()
                return cls(holder, path, (NSENTER, "--target", str(holder.pid), *user, "--mount", "--"))
            holder.wait(10)
            reasons.append(
                f"unshare {' '.join(flags)}: {holder.stderr.read().decode(errors='replace').strip()}"
            )
            holder.stdout.close()
            holder.stderr.close()
        return "no private mount namespace for a small tmpfs (" + "; ".join(reasons) + ")"

    @property
    def outside(self) -> Path:
        """The disk's directory as this process reaches it."""
        return Path(f"/proc/{self._holder.pid}/root") / self.path.relative_to("/")

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace, where `path` is the small disk."""
        return [*self._enter, *argv]

    def free_bytes(self) -> int:
        """Bytes still free on the disk."""
        stat = os.statvfs(self.outside)
        return stat.f_bavail * stat.f_frsize

    def fill(self) -> int:
        """Take every free byte (until ENOSPC); the bytes taken."""
        taken = 0
        zeros = bytes(FILL_CHUNK)
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                taken += os.write(fd, zeros)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        return taken

    def free(self) -> None:
        """Give the space back."""
        self._filler.unlink(missing_ok=True)

    def close(self) -> None:
        """Unmount (the namespace goes with its last process)."""
        self._holder.kill()
        self._holder.wait(10)
        with contextlib.suppress(OSError):
            self.path.rmdir()
