"""CPU, memory and file descriptors of named processes, sampled from /proc while the fleet runs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.25


def cpu_s(pid: int) -> float:
    """utime + stime of every thread so far [s] (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    """VmRSS [KiB]."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    """How many descriptors the process holds."""
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def nofile(pid: int) -> tuple[int, int]:
    """Its RLIMIT_NOFILE (soft, hard), from /proc/<pid>/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise OSError(f"no 'Max open files' in /proc/{pid}/limits")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat; idle and iowait count as not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at one process."""

    t: float
    cpu_s: float
    rss_kib: int
    fds: int


@dataclass(frozen=True, slots=True)
class Usage:
    """One process over a time window: CPU as % of one core, peak RSS and descriptors."""

    cpu_pct: float
    rss_mib: float
    fds: int


class Sampler:
    """Samples named pids every SAMPLE_S on a thread; `usage` summarises any window."""

    def __init__(self) -> None:
        self._pids: dict[str, int] = {}
        self._series: dict[str, list[Sample]] = {}
        self._machine: list[tuple[float, int, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="procstat", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        """Sample this process from now on (a restarted broker is watched again under its name)."""
        with self._lock:
            self._pids[name] = pid
            self._series.setdefault(name, [])

    def start(self) -> Sampler:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(5)

    def sample_now(self) -> None:
        """Take one sample of everything (also at a phase's edges, so a short phase has two)."""
        now = time.monotonic()
        with self._lock:
            pids = dict(self._pids)
        rows: dict[str, Sample] = {}
        for name, pid in pids.items():
            try:
                rows[name] = Sample(now, cpu_s(pid), rss_kib(pid), open_fds(pid))
            except OSError:
                continue  # gone (a broker being restarted): no sample
        busy, total = machine_ticks()
        with self._lock:
            for name, row in rows.items():
                self._series[name].append(row)
            self._machine.append((now, busy, total))

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample_now()

    def usage(self, t0: float, t1: float) -> dict[str, Usage]:
        """Each process between t0 and t1 (monotonic): CPU %, peak RSS and descriptors."""
        out: dict[str, Usage] = {}
        with self._lock:
            series = {name: [s for s in rows if t0 <= s.t <= t1] for name, rows in self._series.items()}
        for name, rows in series.items():
            if len(rows) < 2:
                continue
            span = rows[-1].t - rows[0].t
            cpu = 100.0 * (rows[-1].cpu_s - rows[0].cpu_s) / span if span > 0 else 0.0
            out[name] = Usage(cpu, max(s.rss_kib for s in rows) / 1024, max(s.fds for s in rows))
        return out

    def machine_busy_pct(self, t0: float, t1: float) -> float:
        """All CPUs between t0 and t1: busy share in % of the whole machine (every process, ours or not)."""
        with self._lock:
            rows = [m for m in self._machine if t0 <= m[0] <= t1]
        if len(rows) < 2 or rows[-1][2] == rows[0][2]:
            return 0.0
        return 100.0 * (rows[-1][1] - rows[0][1]) / (rows[-1][2] - rows[0][2])

    def last(self, name: str) -> Sample | None:
        """The newest sample of a process."""
        with self._lock:
            rows = self._series.get(name, [])
            return rows[-1] if rows else None


def total(usages: Mapping[str, Usage], prefix: str) -> float:
    """CPU % summed over the processes whose name starts with `prefix`."""
    return sum(u.cpu_pct for name, u in usages.items() if name.startswith(prefix))
