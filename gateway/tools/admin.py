"""Technicians' and operators' commands: provision a device, generate broker ACLs, print the register."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.config import GatewayConfig, load_config
from gateway.privacy.policy import Policy
from gateway.tools.acl import AclOptions, emqx_acl, mosquitto_acl
from gateway.tools.pki import create_ca, identity_gateway, make_key_and_csr, sign_csr
from gateway.tools.register import register_entry
from gateway.yamlfile import ConfigError

LOCAL_CA = "edge-local-ca"


def config_or_exit(path: Path) -> GatewayConfig:
    """The config at `path`, or its errors printed and exit 1."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from exc


def _policy_or_exit(config: GatewayConfig) -> tuple[Policy, str]:
    from gateway.trust import Untrusted, load_policy

    try:
        loaded = load_policy(config.policy, config.trust.public_key)
    except (Untrusted, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return loaded.value, loaded.version


def provision(
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")],
    out: Annotated[
        Path | None, typer.Option(help="Where the key and CSR go (default: <storage>/tls)")
    ] = None,
    local_ca: Annotated[
        Path | None,
        typer.Option(help="Simulator/tests only: a local CA directory (made if missing) that signs"),
    ] = None,
) -> None:
    """Make this device's private key and certificate request (CN gw.<site>.<gateway>).

    Send the CSR to the network's CA; put the returned certificate and the CA certificate in the
    config's `mqtt.tls`. With --local-ca (simulator and tests only) a local CA signs it at once.
    """
    config = config_or_exit(config_path)
    directory = out or config.storage / "tls"
    identity = identity_gateway(config.site, config.gateway)
    try:
        key, csr = make_key_and_csr(directory, identity)
    except FileExistsError as exc:
        typer.echo(
            f"error: {exc}: this device already has a key; remove it deliberately to re-provision", err=True
        )
        raise typer.Exit(1) from exc
    typer.echo(f"identity {identity}\nkey      {key} (mode 0600, never leaves this device)\ncsr      {csr}")
    if local_ca is None:
        return
    ca_cert, ca_key = local_ca / f"{LOCAL_CA}.crt", local_ca / f"{LOCAL_CA}.key"
    if not ca_cert.exists():
        ca_cert, ca_key = create_ca(local_ca, LOCAL_CA)
    cert = sign_csr(csr, ca_cert, ca_key, directory / f"{identity}.crt")
    typer.echo(f"cert     {cert} (signed by the local CA {ca_cert})")
    typer.echo(f"\nmqtt:\n  tls: {{ca: {ca_cert}, cert: {cert}, key: {key}}}")


def _districts_or_exit(specs: list[str]) -> dict[str, list[Path]]:
    """`NAME:FILE` options -> {district: [config files]}."""
    out: dict[str, list[Path]] = {}
    for spec in specs:
        name, sep, path = spec.partition(":")
        if not sep or not name or not path:
            typer.echo(f"error: --district {spec!r}: expected NAME:FILE", err=True)
            raise typer.Exit(1)
        out.setdefault(name, []).append(Path(path))
    return out


def broker_acl(
    configs: Annotated[
        list[Path] | None,
        typer.Option("--config", "-c", metavar="FILE", help="Config of each gateway on the broker; repeat"),
    ] = None,
    operator: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="Operator name (certificate CN operator.<name>); repeat"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="mosquitto or emqx")] = "mosquitto",
    district: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME:FILE",
            help="Central broker: a gateway reached through district NAME's bridge (bridge.<NAME>); repeat",
        ),
    ] = None,
) -> None:
    """Print the broker ACL for these gateways and their policy's actors (read only your own, write only yours)."""
    bridged = {
        name: [config_or_exit(p) for p in paths] for name, paths in _districts_or_exit(district or []).items()
    }
    loaded = [config_or_exit(p) for p in configs or []]
    every = loaded + [c for group in bridged.values() for c in group]
    prefixes = {c.mqtt.prefix for c in every}
    if len(prefixes) != 1:
        why = (
            "no --config or --district given"
            if not every
            else f"different topic prefixes: {sorted(prefixes)}"
        )
        typer.echo(f"error: {why}", err=True)
        raise typer.Exit(1)
    policies = [_policy_or_exit(c)[0] for c in every]
    actors = sorted({a for policy in policies for a in policy.actors})
    discovery = {a: d for policy in policies for a, d in policy.discovery_prefixes().items()}
    escalation = {a: s.escalation.co_sign for p in policies for a, s in p.actors.items() if s.escalation}
    gateways = [(c.site, c.gateway) for c in loaded]
    bridges = {name: [(c.site, c.gateway) for c in group] for name, group in bridged.items()}
    render = {"mosquitto": mosquitto_acl, "emqx": emqx_acl}.get(fmt)
    if render is None:
        typer.echo("error: --format is mosquitto or emqx", err=True)
        raise typer.Exit(1)
    try:
        options = AclOptions(discovery, bridges, escalation)
        typer.echo(render(prefixes.pop(), actors, gateways, operator or [], options), nl=False)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")],
) -> None:
    """Print this device's register entry as JSON (a GDPR art. 30 record of processing).

    What it measures, where, which processing, which derived data goes to which actor for which
    purpose, and retention."""
    config = config_or_exit(config_path)
    policy, version = _policy_or_exit(config)
    typer.echo(json.dumps(register_entry(config, policy, version), indent=2, ensure_ascii=False))


def add_commands(app: typer.Typer) -> None:
    """Register these commands on the `edge-gateway` app."""
    app.command()(provision)
    app.command("broker-acl")(broker_acl)
    app.command()(register)
