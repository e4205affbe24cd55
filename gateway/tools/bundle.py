"""`edge-gateway bundle`: hand a signed rollout bundle to the gateway, and show the rollout's state.

The running gateway picks an installed bundle up from `<storage>/rollout/incoming/` within seconds,
verifies it again and runs it in shadow (gateway/rollout/manager.py). Sign a bundle on the signing
machine with `python -m models.sign sign --kind bundle --dir DIR --version V --key KEY bundle.yaml ...`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from gateway.rollout.bundle import BundleRefused, load_bundle
from gateway.rollout.store import BundleStore, describe
from gateway.tools.admin import config_or_exit

app = typer.Typer(help="Shadow rollout bundles: install one beside the active detectors, show the state.")


@app.command()
def install(
    directory: Annotated[Path, typer.Argument(help="The bundle directory (MANIFEST.json, bundle.yaml, ...)")],
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")],
) -> None:
    """Verify a bundle against the release key and queue it for the gateway to run in shadow."""
    config = config_or_exit(config_path)
    try:
        bundle = load_bundle(directory, config.trust.public_key)
    except BundleRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    store = BundleStore(config.storage / "rollout")
    staging = store.incoming / f".tmp-{bundle.version}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(directory, staging)
    staging.replace(store.incoming / bundle.version)  # the gateway never sees half a copy
    typer.echo(f"bundle {bundle.version} queued: the gateway runs it in shadow within seconds")


@app.command()
def status(
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")],
) -> None:
    """Print the active, shadow and previous bundles and the latest changes, as JSON."""
    config = config_or_exit(config_path)
    typer.echo(json.dumps(describe(config.storage), indent=2))
