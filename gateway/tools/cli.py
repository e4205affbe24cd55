"""`edge-gateway`: run a gateway, check a config file, watch a gateway's events live."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from gateway import service
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.service_state import write_state
from gateway.stopping import stop_on_signals
from gateway.tools.admin import add_commands
from gateway.tools.bundle import app as bundle_app
from gateway.tools.commissioning import app as commissioning_app
from gateway.tools.doctor import doctor
from gateway.tools.flash import flash
from gateway.tools.node import app as node_app
from gateway.tools.options import add_version_option
from gateway.tools.update import add_update_commands
from gateway.tools.wipe import add_wipe_commands

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
err = Console(stderr=True)
add_version_option(app)

ConfigPath = Annotated[Path, typer.Option("--config", "-c", help="Gateway config file (YAML)")]


def _load_or_exit(path: Path) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        _print_lines(exc.errors)
        raise typer.Exit(1) from exc


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        err.print(line, markup=False, highlight=False, soft_wrap=True)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@app.command("check-config")
def check_config(
    path: Annotated[Path, typer.Argument(help="Config file to check")],
    strict: Annotated[bool, typer.Option(help="Warnings fail the check too")] = False,
) -> None:
    """Check everything `run` will need, without starting anything: every problem, sorted by line.

    Exit 0 if the file is usable (warnings, such as an unplugged serial port, are printed),
    1 if anything is wrong (with --strict: also if anything is doubtful).
    """
    from gateway.tools.check_config import check

    try:
        report = check(path)
    except ConfigError as exc:
        _print_lines(exc.errors)
        raise typer.Exit(1) from exc
    _print_lines(report.lines())
    counted = f"{_count(report.errors, 'error')}, {_count(report.warnings, 'warning')}"
    if report.errors or (strict and report.warnings):
        err.print(
            f"{path}: {counted}" + (" (--strict)" if not report.errors else ""), markup=False, soft_wrap=True
        )
        raise typer.Exit(1)
    config, policy = report.config, report.policy
    assert config is not None and policy is not None  # no errors: both loaded
    warned = f", {_count(report.warnings, 'warning')}" if report.warnings else ""
    typer.echo(
        f"{path}: OK ({len(config.sensors)} sensors, {len(config.cameras)} cameras, site {config.site}, "
        f"gateway {config.gateway}, policy {policy.value.version} with {len(policy.value.actors)} actors{warned})"
    )


@app.command()
def run(
    config_path: ConfigPath,
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], typer.Option(case_sensitive=False, help="Log level")
    ] = "INFO",
    log_format: Annotated[
        service.LogFormat, typer.Option(help="text, or json: one object a line (journald)")
    ] = service.LogFormat.text,
) -> None:
    """Run a gateway until SIGINT or SIGTERM (under systemd: READY, WATCHDOG, STOPPING; deploy/)."""
    service.configure_logging(log_level, log_format)
    config = _load_or_exit(config_path)
    from gateway.tools.check_config import unreadable_files

    missing = unreadable_files(config_path)  # one line each, never a traceback from deep inside
    if missing:
        _print_lines(missing)
        raise typer.Exit(1)
    write_state(config.storage, "starting")  # what `edge-gateway update` watches (gateway/service_state.py)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # a camera's failed reopen is logged once by us
    from gateway.app import BrokerRejected, Gateway
    from gateway.audit import AuditLog, AuditLogError
    from gateway.outbox import OutboxError
    from gateway.trust import Trusted, Untrusted

    try:
        trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    except Untrusted as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except ConfigError as exc:
        _print_lines(exc.errors)
        raise typer.Exit(1) from exc
    try:
        config.storage.mkdir(parents=True, exist_ok=True)
        audit_log = AuditLog(config.storage / "audit.jsonl", bounds=config.audit)
    except (AuditLogError, OSError) as exc:
        err.print(f"error: cannot open the audit log: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    with stop_on_signals() as stop:
        try:
            gateway = Gateway(config, trusted, audit_log, config_path)
        except (Untrusted, OutboxError, OSError) as exc:  # e.g. a person model not signed; a bad outbox
            audit_log.close()
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from exc
        try:
            service.run(gateway, stop)
        except BrokerRejected as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except OSError as exc:  # the storage failing in a way the outbox and the audit log cannot ride out
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from exc


@app.command()
def watch(
    config_path: ConfigPath,
    cert: Annotated[Path | None, typer.Option(help="Operator certificate (TLS brokers)")] = None,
    key: Annotated[Path | None, typer.Option(help="Operator private key (TLS brokers)")] = None,
) -> None:
    """Show a gateway's source health and every actor's events live, as they reach the broker."""
    config = _load_or_exit(config_path)
    from gateway.tools.check_config import readable
    from gateway.tools.watch import watch_gateway

    tls = config.mqtt.tls
    files = [] if tls is None else [tls.ca, cert or tls.cert, key or tls.key]
    unreadable = [why for why in map(readable, files) if why]
    if unreadable:
        _print_lines([f"error: {why}" for why in unreadable])
        raise typer.Exit(1)
    sys.exit(watch_gateway(config, (cert, key) if cert and key else None))


add_commands(app)
app.command("flash")(flash)
app.add_typer(bundle_app, name="bundle")
app.add_typer(commissioning_app, name="commissioning")
app.add_typer(node_app, name="node")
app.command()(doctor)
add_update_commands(app)
add_wipe_commands(app)

if __name__ == "__main__":
    app()
