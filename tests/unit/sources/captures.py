"""Real sensor captures from PyPMS (shared/datasets/serial/pypms_captures) as test vectors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "serial" / "pypms_captures"


def capture_dir() -> Path:
    """The captures folder, or skip the calling test if this checkout has no shared datasets."""
    if not CAPTURES.is_dir():
        pytest.skip(f"PyPMS captures not found at {CAPTURES} (shared datasets not mounted)")
    return CAPTURES


def hexdump_frames(name: str) -> list[bytes]:
    """The frames of an `xxd`-style `.hexdump` file, one per line."""
    frames = []
    for line in (capture_dir() / f"{name}.hexdump").read_text().splitlines():
        hex_part = line.split(": ", 1)[1].split("  ", 1)[0]
        frames.append(bytes.fromhex(hex_part))
    return frames


def csv_rows(name: str) -> list[dict[str, str]]:
    """The decoded observations PyPMS wrote for the same capture (`.csv`, comma + space)."""
    with (capture_dir() / f"{name}.csv").open(newline="") as f:
        return list(csv.DictReader(f, skipinitialspace=True))


def data_frames(sensor: str) -> list[bytes]:
    """The raw frames of one sensor model in PyPMS's `data.csv` (time, sensor, hex)."""
    with (capture_dir() / "data.csv").open(newline="") as f:
        return [bytes.fromhex(row["hex"]) for row in csv.DictReader(f) if row["sensor"] == sensor]
