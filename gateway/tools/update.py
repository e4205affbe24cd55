"""`edge-gateway update` (on the gateway, as root) and `edge-gateway allow-downgrade` (an operator's)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.security.signing import SigningKeyError, load_private_key
from gateway.tools.admin import config_or_exit

DEFAULT_CONFIG = Path("/etc/edge-gateway/gateway.yaml")


def update(
    source: Annotated[
        str, typer.Argument(help="Signed release bundle: a file, or an http(s) URL on the LAN")
    ],
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="The gateway's config file")
    ] = DEFAULT_CONFIG,
    force: Annotated[
        Path | None,
        typer.Option(
            help="An operator's signed permission (allow-downgrade) for a version that is not newer"
        ),
    ] = None,
) -> None:
    """Install a signed release beside the running one, restart into it, roll back if it is not healthy.

    Exit 0 updated; 1 refused (nothing changed); 3 rolled back; 4 rolled back, but the previous version
    did not report ready either.
    """
    from gateway.update.apply import Updater, UpdateRequest

    config = config_or_exit(config_path)
    try:
        permission = force.read_bytes() if force is not None else None
    except OSError as exc:
        typer.echo(f"error: cannot read {force}: {exc}", err=True)
        raise typer.Exit(1) from exc
    outcome = Updater(config, typer.echo).run(UpdateRequest(source, config_path.resolve(), permission))
    if outcome:
        raise typer.Exit(int(outcome))


def allow_downgrade(
    version: Annotated[str, typer.Option(help="The one version this permission lets the gateway install")],
    site: Annotated[str, typer.Option(help="The gateway's site")],
    gateway: Annotated[str, typer.Option(help="The gateway's id")],
    operator: Annotated[str, typer.Option(help="Your operator name, as in the gateway's trust.operators")],
    key: Annotated[Path, typer.Option(help="Your Ed25519 private key (PEM)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write it here (default: stdout)")] = None,
) -> None:
    """Sign a one-time permission for a gateway to install a version that is not newer (valid 5 minutes)."""
    from packaging.version import InvalidVersion

    from gateway.update.force import Permission, sign_force

    permission = Permission(operator, site, gateway, version, uuid.uuid4().hex)
    try:
        signed = sign_force(load_private_key(key), permission, datetime.now(UTC))
    except (OSError, SigningKeyError, InvalidVersion) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if out is None:
        typer.echo(signed.decode())
    else:
        out.write_bytes(signed + b"\n")
        typer.echo(f"{out}: permission {permission.command_id} for {site}/{gateway} to install {version}")


def add_update_commands(app: typer.Typer) -> None:
    """Register `update` and `allow-downgrade` on the edge-gateway CLI."""
    app.command("update")(update)
    app.command("allow-downgrade")(allow_downgrade)
