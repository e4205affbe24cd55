"""`edge-gateway commissioning set-password`: the commissioning page's password, hashed into the config.

The password is asked twice without echo (or read from one line of stdin with --password-stdin),
hashed with scrypt (gateway/commissioning/password.py) and written as `commissioning.password_hash`
into the config file, comments and layout kept, only once the changed file validates as a whole.
With --print the hash is only printed, for a config file this user may not write. A running
gateway reads it at its next start.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from gateway.commissioning.password import hash_password
from gateway.config import GatewayConfig
from gateway.yamlfile import ConfigError, load_yaml_model, parse_yaml_model

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The local commissioning page.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))


def with_password_hash(text: str, encoded: str, path: Path) -> str:
    """The config text with `commissioning.password_hash` set (ConfigError if the result is invalid)."""
    yaml = YAML(typ="rt")
    document = yaml.load(text)
    if not isinstance(document, CommentedMap):
        raise ConfigError(path, [f"{path}:1: expected a mapping of keys at the top level"])
    section = document.get("commissioning")
    if not isinstance(section, CommentedMap):
        section = document["commissioning"] = CommentedMap()
    section["password_hash"] = encoded
    out = io.StringIO()
    yaml.dump(document, out)
    parse_yaml_model(out.getvalue(), GatewayConfig, path)
    return out.getvalue()


def _replace(path: Path, text: str) -> None:
    """Write `text` over `path` atomically, keeping the file's mode (the new file is private until then)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.chmod(path.stat().st_mode & 0o7777)
    tmp.replace(path)


@app.command("set-password")
def set_password(
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The gateway's config file")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin")
    ] = False,
    print_only: Annotated[
        bool, typer.Option("--print", help="Only print the hash line to paste; the file is not changed")
    ] = False,
) -> None:
    """Set the commissioning page's password (no default password exists: the page needs one off loopback)."""
    try:
        load_yaml_model(config_path, GatewayConfig)
    except ConfigError as exc:
        for line in exc.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from exc
    try:
        encoded = hash_password(_read_password(password_stdin))
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if print_only:
        typer.echo(f"commissioning:\n  password_hash: '{encoded}'")
        return
    try:
        text = with_password_hash(config_path.read_text(encoding="utf-8"), encoded, config_path)
        _replace(config_path, text)
    except ConfigError as exc:
        raise _fail("; ".join(exc.errors)) from exc
    except OSError as exc:
        raise _fail(f"cannot write {config_path}: {exc.strerror}; use --print and paste the line") from exc
    typer.echo(f"{config_path}: commissioning.password_hash set; restart the gateway to use it")
