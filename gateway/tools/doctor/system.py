"""The doctor's host checks: is the clock right (event times, TLS validity and the 5-minute window of
remote commands depend on it), and is there room on the storage (outbox, audit log, state)?"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from gateway.tools.doctor.report import Finding, Status

TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised (STA_UNSYNC)
TIMEX_SIZE = 512  # struct timex is 208 bytes on 64-bit Linux; room to spare
SLACK_S = 300.0  # a file this far in the future means the clock is behind
FAIL_FREE = 50 * 1024**2  # bytes: the outbox cannot hold an outage's events much longer
WARN_FREE = 500 * 1024**2


def ntp_status() -> tuple[bool | None, str]:
    """Whether the clock is synchronised, and how that is known (None: it cannot be known here)."""
    tool = shutil.which("timedatectl")
    if tool is not None:
        try:
            done = subprocess.run(
                [tool, "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=3,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
            return done.stdout.strip() == "yes", "timedatectl"
    return _adjtimex()


def _adjtimex() -> tuple[bool | None, str]:
    name = ctypes.util.find_library("c")
    if name is None:
        return None, "neither timedatectl nor adjtimex answers"
    try:
        adjtimex = ctypes.CDLL(name, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None, "neither timedatectl nor adjtimex answers"
    state = adjtimex(ctypes.create_string_buffer(TIMEX_SIZE))  # modes = 0: read only, no privilege
    if state < 0:
        return None, f"adjtimex failed (errno {ctypes.get_errno()})"
    return state != TIME_ERROR, "adjtimex"


def newest_file(paths: Iterable[Path]) -> tuple[Path, float] | None:
    """The most recently modified of these files (directories: their entries, one level)."""
    newest: tuple[Path, float] | None = None
    for path in paths:
        entries = list(path.iterdir()) if path.is_dir() else [path]
        for entry in entries:
            try:
                mtime = entry.stat().st_mtime
            except OSError:
                continue
            if newest is None or mtime > newest[1]:
                newest = (entry, mtime)
    return newest


def clock_finding(synced: bool | None, how: str, now: float, newest: tuple[Path, float] | None) -> Finding:
    """The verdict from what can be known: the sync state, and the clock against files written earlier."""
    shown = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if newest is not None and newest[1] > now + SLACK_S:
        written = datetime.fromtimestamp(newest[1], UTC).strftime("%Y-%m-%d %H:%M UTC")
        found = f"the clock says {shown}, but {newest[0]} was written at {written}: the clock is behind"
        return Finding(
            "clock",
            "system clock",
            Status.FAIL,
            found,
            "set the time and enable NTP: timedatectl set-ntp true",
        )
    if synced:
        return Finding("clock", "system clock", Status.OK, f"{shown}, synchronised (according to {how})")
    if synced is None:
        found = f"{shown}; whether it is synchronised cannot be known here ({how}); it is not behind the gateway's files"
        return Finding(
            "clock",
            "system clock",
            Status.WARN,
            found,
            "check it against a reference: event times and TLS depend on it",
        )
    found = f"{shown}, not synchronised (according to {how})"
    action = "enable NTP (timedatectl set-ntp true) and let it reach an NTP server (UDP 123)"
    return Finding("clock", "system clock", Status.WARN, found, action)


def check_clock(files: Iterable[Path]) -> Finding:
    """The clock now, judged by NTP and by `files` the gateway wrote earlier."""
    synced, how = ntp_status()
    return clock_finding(synced, how, time.time(), newest_file(p for p in files if p.exists()))


def check_disk(storage: Path) -> Finding:
    """Free space and write access where the outbox, the audit log and the state live."""
    target = storage
    while not target.exists() and target != target.parent:
        target = target.parent
    usage = shutil.disk_usage(target)
    note = "" if target == storage else f" (not made yet; {target} is)"
    return disk_finding(storage, usage.free, usage.total, os.access(target, os.W_OK), note)


def disk_finding(storage: Path, free: int, total: int, writable: bool, note: str = "") -> Finding:
    """The verdict on the storage directory's room and access."""
    found = f"{free / 1024**3:.1f} GiB free of {total / 1024**3:.1f} GiB{note}"
    if not writable:
        return Finding(
            "disk",
            str(storage),
            Status.FAIL,
            f"{found}; not writable by this user",
            "chown it to the gateway's user",
        )
    if free < FAIL_FREE:
        return Finding(
            "disk",
            str(storage),
            Status.FAIL,
            found,
            "free space: the outbox holds events during outages here",
        )
    if free < WARN_FREE:
        return Finding(
            "disk",
            str(storage),
            Status.WARN,
            found,
            "free space soon: the outbox and the audit log grow here",
        )
    return Finding("disk", str(storage), Status.OK, found)
