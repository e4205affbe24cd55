"""A gateway process under measurement: start, read its CPU time and peak memory from /proc, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from ruamel.yaml import YAML

BIN = Path(sys.executable).parent


def write_config(path: Path, config: dict[str, object]) -> Path:
    """Write a gateway config (YAML)."""
    with path.open("w") as fh:
        YAML(typ="safe", pure=True).dump(config, fh)
    return path


class Child:
    """A child process that is always stopped: SIGTERM, then SIGKILL after a bounded wait."""

    proc: subprocess.Popen[bytes]
    term_wait_s = 20.0

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a bounded wait."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.term_wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class GatewayProcess(Child):
    """`edge-gateway run --config FILE` as a child process, its output in a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [BIN / "edge-gateway", "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def cpu_s(self) -> float:
        """utime + stime of all its threads so far [s] (/proc/<pid>/stat fields 14 and 15)."""
        text = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = text.rsplit(")", 1)[1].split()  # the command name may contain spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int:
        """VmHWM: the peak resident set size so far [KiB]."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise OSError(f"no VmHWM in /proc/{self.proc.pid}/status")

    def log_tail(self, lines: int = 20) -> str:
        """The end of its log, for error messages."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
