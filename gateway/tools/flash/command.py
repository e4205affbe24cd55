"""The `edge-gateway flash` command: the whole job, its report and its exit code."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.tools.flash.build import identity, json_file, node_config
from gateway.tools.flash.image import load_image
from gateway.tools.flash.install import copy_files, restart, self_test, verify
from gateway.tools.flash.job import (
    EXIT_ERROR,
    EXIT_SENSORS,
    IMAGES_DIR,
    RELEASE_KEY,
    FlashError,
    FlashOptions,
    FlashReport,
)
from gateway.tools.flash.link import board_facts, check_port, connect


def run_flash(options: FlashOptions, console: Console) -> FlashReport:
    """The whole job; FlashError (with a hint) for anything a technician has to fix."""
    options.check()
    check_port(options)  # first: a wrong port should not cost a technician any wait
    report = FlashReport(options.port, options.board, options.node_id, options.sensors)
    image = load_image(options.firmware, options.board, options.public_key)  # FlashError unless signed
    files = list(image.files)
    console.print(f"firmware {image.fw} for {image.board}: {len(files)} files, signed ({image.directory})")
    with connect(options) as transport:
        board_facts(transport, options, report)
        files += [
            json_file("/config.json", node_config(options)),
            json_file("/identity.json", identity(options, report.uid)),
        ]
        report.files = files
        copy_files(transport, files, console)
        report.verified = verify(transport, files)
        self_test(transport, options, report)
        restart(transport, report)
    return report


def print_report(report: FlashReport, console: Console) -> None:
    """The technician's summary."""
    size = sum(len(f.data) for f in report.files)
    console.print(
        f"[bold]{report.node_id}[/] flashed on {report.port}: {report.board}, uid {report.uid}, {report.micropython}"
    )
    console.print(
        f"{len(report.files)} files, {size} bytes; sha256 verified on the board: {report.verified}/{len(report.files)}"
    )
    table = Table("sensor", "self-test", title="sensors")
    for name, result in sorted(report.self_test.items()):
        style = "green" if result == "ok" else "red"
        table.add_row(name, f"[{style}]{result}[/]")
    if report.self_test:
        console.print(table)
    else:
        console.print("no sensors configured")
    if report.self_test_note:
        console.print(f"[yellow]{report.self_test_note}[/]")
    if report.hello:
        console.print(
            f"running: firmware {report.hello.get('fw')}, node {report.hello.get('node')}", markup=False
        )
    console.print("\nthe node in the gateway's config (sensors:), with an id of your choice:")
    wired = ", ".join(report.sensors)
    console.print(
        f"  - {{id: {report.node_id}, type: node, port: {report.port}, node_id: {report.node_id}, "
        f"node_sensors: [{wired}]}}"
        + ("   # and mount_height_mm, levels" if "maxbotix" in report.sensors else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def main(options: FlashOptions, console: Console) -> int:
    """Flash and report; the exit code (0 ok, 1 failed, 3 flashed but a sensor did not answer)."""
    try:
        report = run_flash(options, console)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except FlashError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        if exc.hint:
            console.print(exc.hint, markup=False, highlight=False)
        return EXIT_ERROR
    print_report(report, console)
    return 0 if report.sensors_ok else EXIT_SENSORS


def _sensor_list(values: list[str] | None) -> tuple[str, ...]:
    return tuple(s.strip() for v in values or [] for s in v.split(",") if s.strip())


def flash(
    port: Annotated[str, typer.Option(help="Serial port of the board, e.g. /dev/ttyUSB0 or /dev/ttyACM0")],
    board: Annotated[str, typer.Option(help="esp32 or rp2")],
    node_id: Annotated[str, typer.Option("--node-id", help="The node's id: 1-32 characters a-z 0-9 - _")],
    sensors: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SENSOR",
            help="Wired sensors (repeat or comma-separate): pms5003, sds011, bme280, maxbotix, rain",
        ),
    ] = None,
    firmware: Annotated[
        Path, typer.Option(help="Signed firmware image, or a directory of them per board (default: shipped)")
    ] = IMAGES_DIR,
    public_key: Annotated[
        Path, typer.Option(help="Key the image must be signed with (default: the release key)")
    ] = RELEASE_KEY,
    interval: Annotated[int, typer.Option(help="Seconds between readings (5-3600)")] = 60,
    pin: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=N",
            help="Move off the board's default wiring (repeat): pms5003.tx=25, bme280.sda=21, rain=27, led=2",
        ),
    ] = None,
    duty_cycle: Annotated[
        float | None,
        typer.Option(help="Fraction of time a particulate sensor's fan runs, e.g. 0.1: 30 s on every 300 s"),
    ] = None,
) -> None:
    """Copy the signed node firmware to a board, verify it by sha256 on the board, self-test it."""
    options = FlashOptions(
        port,
        board,
        node_id,
        _sensor_list(sensors),
        firmware,
        interval_s=interval,
        pins=tuple(pin or ()),
        duty_cycle=duty_cycle,
        public_key=public_key,
    )
    code = main(options, Console())
    if code:
        raise typer.Exit(code)
