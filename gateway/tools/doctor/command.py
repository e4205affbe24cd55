"""`edge-gateway doctor [--config FILE] [--json]`: check everything a gateway needs, say what to do.

Exit 1 if any check failed, else 0 (warnings included). The checks load OpenCV, paho and
onnxruntime, so they are imported only when the command runs, not with the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.tools.doctor.report import as_json, exit_code, print_table

DEFAULT_CONFIG = Path("/etc/edge-gateway/gateway.yaml")  # deploy/README.md


def doctor(
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="Gateway config file (YAML)")
    ] = DEFAULT_CONFIG,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object for machines")] = False,
) -> None:
    """Check this gateway: config, serial sensors, cameras, broker, clock, disk, signed models and policy.

    Each serial port is probed with every sensor protocol, so a swapped or wrong sensor is named.
    Stop a running gateway first: it holds the serial ports. Exit 1 if any check fails."""
    from gateway.tools.doctor.checks import run_checks

    findings = run_checks(config_path)
    if json_output:
        typer.echo(as_json(findings))
    else:
        print_table(findings, Console())
    raise typer.Exit(exit_code(findings))
