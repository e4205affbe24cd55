"""`edge-gateway wipe` (a retired or resold gateway) and `edge-gateway verify-wipe` (the operator's check)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from gateway.tools.admin import config_or_exit


def wipe(
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before destroying")] = False,
    receipt_out: Annotated[
        Path | None, typer.Option(help="Write the signed receipt here (default: stdout); not in storage")
    ] = None,
) -> None:
    """Destroy keys, outbox, audit log, state and the config file; print a signed wipe receipt.

    Exit 0 wiped; 1 refused (a gateway is running, or not confirmed); nothing is destroyed then.
    """
    from gateway.wipe import WipeRefused, targets
    from gateway.wipe import wipe as destroy

    config = config_or_exit(config_path)
    doomed = [p for p in targets(config, config_path) if p.exists()]
    if receipt_out is not None and receipt_out.resolve().is_relative_to(config.storage.resolve()):
        typer.echo(f"error: the receipt cannot go in {config.storage}, which is wiped", err=True)
        raise typer.Exit(1)
    if not yes and not typer.confirm(f"destroy {len(doomed)} files of {config.site}/{config.gateway}?"):
        raise typer.Exit(1)
    started = time.monotonic()
    try:
        receipt = destroy(config, config_path)
    except WipeRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    text = json.dumps(receipt, indent=2, sort_keys=True)
    files = receipt["files"]
    assert isinstance(files, list)
    summary = (
        f"wiped {len(files)} files in {time.monotonic() - started:.2f} s; receipt key {receipt['public_key']}"
    )
    if receipt_out is None:
        typer.echo(text)
    else:
        receipt_out.write_text(text + "\n", encoding="utf-8")
        summary += f"; receipt in {receipt_out}"
    typer.echo(summary, err=True)


def verify_wipe(
    receipt: Annotated[Path, typer.Argument(help="The receipt `edge-gateway wipe` printed")],
    public_key: Annotated[
        str | None, typer.Option(help="The receipt key `wipe` printed (base64), as noted at wipe time")
    ] = None,
) -> None:
    """Check a wipe receipt's signature; print what it says was destroyed. Exit 0 intact, 1 not."""
    from gateway.wipe import verify_receipt

    try:
        body = json.loads(receipt.read_text(encoding="utf-8"))
        problem = verify_receipt(body, public_key) if isinstance(body, dict) else "not a wipe receipt"
    except (OSError, ValueError) as exc:
        problem = str(exc)
    if problem is not None:
        typer.echo(f"error: {receipt}: {problem}", err=True)
        raise typer.Exit(1)
    audit = body["audit"]
    typer.echo(
        f"{receipt}: intact; {body['site']}/{body['gateway']} wiped at {body['time']}, "
        f"{len(body['files'])} files, audit head seq {audit['seq']} {audit['head']}"
    )


def add_wipe_commands(app: typer.Typer) -> None:
    """Register `wipe` and `verify-wipe` on the edge-gateway CLI."""
    app.command("wipe")(wipe)
    app.command("verify-wipe")(verify_wipe)
