"""`edge-gateway node identify|self-test|health|set-interval PORT`: ask a sensor node on its serial link.

Exit codes: 0 done; 1 no answer (or the port cannot be opened); 3 the node answered but refused,
or a sensor failed its self-test. The port must be free: stop a gateway that reads it first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.messages import JsonValue
from gateway.sources.node_link import INTERVAL_RANGE_S
from gateway.sources.protocols.node import InfoKind
from gateway.tools.node.session import Answer, NodeSession, NodeUnreachable, open_port
from gateway.tools.node.session import self_test as run_self_test

EXIT_UNREACHABLE, EXIT_REFUSED = 1, 3

app = typer.Typer(no_args_is_help=True, help="Ask a sensor node on its serial port (the port must be free).")
Port = Annotated[str, typer.Argument(help="The node's serial port, e.g. /dev/ttyACM0 (or a pyserial URL)")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for the node's answer")]
NodeId = Annotated[
    str | None, typer.Option("--node-id", help="Only talk to this node (refuse another on the port)")
]


@dataclass(frozen=True, slots=True)
class Target:
    """Which node to ask, and how long to wait."""

    port: str
    timeout_s: float = 5.0
    node_id: str | None = None


@contextlib.contextmanager
def _session(target: Target) -> Iterator[NodeSession]:
    """A session on the node's port; exit 1 with why, if the port or the node does not answer."""
    try:
        with open_port(target.port) as opened:
            yield NodeSession(opened, target.node_id)
    except NodeUnreachable as exc:
        Console().print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_UNREACHABLE) from exc


def _ask(
    target: Target, cmd: str, args: Mapping[str, JsonValue] | None = None, then: InfoKind | None = None
) -> Answer:
    """One command's answer; exit 1 if none came, 3 if the node refused."""
    with _session(target) as session:
        answer = session.ask(cmd, args, target.timeout_s, then)
    console = Console()
    if answer.hello is not None:
        console.print(f"(the node restarted meanwhile: {escape(str(answer.hello.get('reset_cause')))})")
    if not answer.result.ok:
        console.print(f"[red]{answer.node} refused {cmd}:[/] {escape(answer.result.detail)}")
        raise typer.Exit(EXIT_REFUSED)
    return answer


@app.command()
def identify(port: Port, timeout: Timeout = 5.0, node_id: NodeId = None) -> None:
    """Blink the node's LED fast for 10 s, to find it on a pole or in a cabinet."""
    answer = _ask(Target(port, timeout, node_id), "identify")
    Console().print(f"{answer.node} on {port}: {escape(answer.result.detail)}")


@app.command("self-test")
def self_test(port: Port, timeout: Timeout = 5.0, node_id: NodeId = None) -> None:
    """Ask every sensor of the node whether it answers; exit 3 if one does not."""
    with _session(Target(port, timeout, node_id)) as session:
        _health, answer = run_self_test(session, timeout)
    console = Console()
    sensors = answer.result.body.get("sensors")
    verdicts = {str(k): str(v) for k, v in sensors.items()} if isinstance(sensors, dict) else {}
    table = Table("sensor", "self-test", title=f"{answer.node} on {port}")
    for name, verdict in sorted(verdicts.items()):
        table.add_row(name, f"[{'green' if verdict == 'ok' else 'red'}]{escape(verdict)}[/]")
    console.print(table if verdicts else f"{answer.node} on {port}: {escape(answer.result.detail)}")
    if not answer.result.ok:
        raise typer.Exit(EXIT_REFUSED)


def _uptime(seconds: JsonValue) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    whole = int(seconds)
    return f"{whole // 86400} d {whole % 86400 // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@app.command()
def health(port: Port, timeout: Timeout = 5.0, node_id: NodeId = None) -> None:
    """Uptime, last reset cause, free memory, interval and error counts, asked for now."""
    answer = _ask(Target(port, timeout, node_id), "health", then="health")
    body = answer.follow_up or {}
    errors = body.get("errors")
    failing = {k: v for k, v in errors.items() if v} if isinstance(errors, dict) else {}
    table = Table(show_header=False, title=f"{answer.node} on {port}")
    rows = [
        ("uptime", _uptime(body.get("uptime_s"))),
        ("last reset", str(body.get("reset_cause"))),
        ("free memory", f"{body.get('free_mem')} bytes"),
        ("interval", f"{body.get('interval_s')} s"),
        ("sensor errors", ", ".join(f"{k}: {v}" for k, v in sorted(failing.items())) or "none"),
        ("bad frames from the gateway", str(body.get("bad_frames", "?"))),
    ]
    for name, value in rows:
        table.add_row(name, escape(value))
    Console().print(table)


@app.command("set-interval")
def set_interval(
    port: Port,
    seconds: Annotated[
        int,
        typer.Argument(
            min=INTERVAL_RANGE_S[0], max=INTERVAL_RANGE_S[1], help="Seconds between readings (5-3600)"
        ),
    ],
    persist: Annotated[
        bool, typer.Option(help="Also write it to the node's /config.json, so it outlives a restart")
    ] = True,
    timeout: Timeout = 5.0,
    node_id: NodeId = None,
) -> None:
    """Change how often the node sends readings (kept over restarts unless --no-persist)."""
    answer = _ask(Target(port, timeout, node_id), "set_interval", {"seconds": seconds, "persist": persist})
    console = Console()
    console.print(f"{answer.node} on {port}: {escape(answer.result.detail)}")
    saved = answer.result.body.get("saved")
    if persist and saved is None:
        console.print("this firmware cannot save it: it lasts until the next restart (flash --interval)")
    elif persist and saved is False:
        raise typer.Exit(EXIT_REFUSED)
