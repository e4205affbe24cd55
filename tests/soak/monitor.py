"""The gateway process's memory, open files and CPU over time, read from /proc every few seconds.

Growth is judged per process (a killed gateway's successor starts from scratch), after a warm-up
in which models load, caches fill and the first windows of readings build up.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the gateway: seconds since the soak began, pid, RSS [kB], open fds, CPU [% of a core] since the last look (-1: first look)."""

    t: float
    pid: int
    rss_kb: int
    fds: int
    cpu_pct: float
    threads: int


def read_proc(pid: int) -> tuple[int, int, float, int] | None:
    """RSS [kB], open fds, CPU seconds used so far and thread count of `pid` (None if it is gone)."""
    try:
        proc = Path(f"/proc/{pid}")
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        fds = sum(1 for _ in (proc / "fd").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return None
    # after the ")" of comm: state is field 3 of stat(5); utime 14, stime 15, num_threads 20, rss 24
    cpu_s = (int(fields[11]) + int(fields[12])) / TICKS
    return int(fields[21]) * PAGE // 1024, fds, cpu_s, int(fields[17])


class Monitor:
    """Samples whichever process `pid()` names, every `period_s`, in a thread of its own."""

    def __init__(self, pid: Callable[[], int | None], began: float, period_s: float = 2.0) -> None:
        """`began`: the time.monotonic() that sample times count from."""
        self._pid, self.period_s = pid, period_s
        self.samples: list[Sample] = []
        self._began = began
        self._last: tuple[int, float, float] | None = None  # pid, monotonic, CPU seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-monitor", daemon=True)

    def start(self) -> Monitor:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def sample(self) -> None:
        """Take one sample now (nothing while no gateway runs)."""
        pid = self._pid()
        read = None if pid is None else read_proc(pid)
        if pid is None or read is None:
            self._last = None
            return
        rss_kb, fds, cpu_s, threads = read
        now = time.monotonic()
        cpu_pct = -1.0  # unknown for a process's first sample
        if self._last is not None and self._last[0] == pid and now > self._last[1]:
            cpu_pct = 100.0 * (cpu_s - self._last[2]) / (now - self._last[1])
        self._last = (pid, now, cpu_s)
        self.samples.append(Sample(round(now - self._began, 2), pid, rss_kb, fds, round(cpu_pct, 1), threads))


def growth(samples: Sequence[Sample], warmup_s: float) -> dict[str, Any]:
    """Per gateway process: RSS and fd change from the end of its warm-up to its last sample, and the
    RSS trend (least squares, kB per minute); the longest-lived process first."""
    by_pid: dict[int, list[Sample]] = {}
    for sample in samples:
        by_pid.setdefault(sample.pid, []).append(sample)
    rows = []
    for pid, own in by_pid.items():
        steady = [s for s in own if s.t >= own[0].t + warmup_s]
        if len(steady) < 3:
            continue
        rows.append(
            {
                "pid": pid,
                "seconds": round(steady[-1].t - steady[0].t, 1),
                "rss_start_kb": steady[0].rss_kb,
                "rss_end_kb": steady[-1].rss_kb,
                "rss_max_kb": max(s.rss_kb for s in steady),
                "rss_growth_kb": steady[-1].rss_kb - steady[0].rss_kb,
                "rss_trend_kb_per_min": round(_slope([(s.t, s.rss_kb) for s in steady]) * 60, 1),
                "fds_start": steady[0].fds,
                "fds_end": steady[-1].fds,
                "fds_max": max(s.fds for s in steady),
                "fds_growth": steady[-1].fds - steady[0].fds,
            }
        )
    return {"warmup_s": warmup_s, "processes": sorted(rows, key=lambda r: -float(r["seconds"]))}


def cpu(samples: Sequence[Sample]) -> dict[str, float]:
    """Mean and 95th percentile of the gateway's CPU use [% of one core]."""
    values = sorted(s.cpu_pct for s in samples if s.cpu_pct >= 0)
    if not values:
        return {"mean_pct": 0.0, "p95_pct": 0.0}
    return {
        "mean_pct": round(sum(values) / len(values), 1),
        "p95_pct": values[min(len(values) - 1, int(0.95 * len(values)))],
    }


def _slope(points: Sequence[tuple[float, float]]) -> float:
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return 0.0 if var == 0 else sum((x - mean_x) * (y - mean_y) for x, y in points) / var
