"""What both command lines share: `--version`, read from the installed distribution's metadata."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.shipped import distribution_version


def _print_version(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        typer.echo(f"{ctx.find_root().info_name} {distribution_version()}")
        raise typer.Exit()


def add_version_option(app: typer.Typer) -> None:
    """Give `app` a top-level `--version` (its callback; the app's help text stays its own)."""

    def callback(
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
            ),
        ] = False,
    ) -> None:
        pass

    app.callback(help=app.info.help)(callback)
