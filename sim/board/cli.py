"""The `edge-sim board` command: run one simulated board until SIGTERM or Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.stopping import stop_on_signals
from gateway.tools.flash.job import FIRMWARE_DIR
from sim.board.device import Board
from sim.board.kinds import BOARDS


def board(
    workdir: Annotated[
        Path, typer.Option("--dir", help="Board files (DIR/fs) and port (DIR/dev/board)")
    ] = Path("run/sim-board"),
    kind: Annotated[
        str, typer.Option("--board", help="esp32, rp2, or blank (an ESP32 with no MicroPython yet)")
    ] = "esp32",
    sensors: Annotated[
        str,
        typer.Option(help="Sensors wired to the board, comma-separated (default: all in its /config.json)"),
    ] = "",
    firmware: Annotated[Path, typer.Option(help="Sources of the flashed .mpy files")] = FIRMWARE_DIR,
    time_scale: Annotated[float, typer.Option(help="Board seconds per wall second")] = 1.0,
) -> None:
    """A simulated MicroPython board on a pseudo-terminal: mpremote and `edge-gateway flash` work on it."""
    if kind not in (*BOARDS, "blank"):
        typer.echo(f"error: --board must be esp32, rp2 or blank, not {kind!r}", err=True)
        raise typer.Exit(2)
    attached = {s.strip() for s in sensors.split(",") if s.strip()} or None
    sim = Board(workdir, kind, attached, firmware, time_scale)
    with stop_on_signals() as stop, sim:
        typer.echo(f"board {kind} at {sim.path} (files in {sim.fs.root})", err=False)
        while not stop.wait(0.2):
            pass
