"""The fleet figures as a table for people and as JSON (run/fleet/fleet.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.bench.report import machine
from tests.fleet import acl_load


def _num(value: object, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def summary_rows(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per fleet size: the headline figures."""
    header = (
        f"{'N':>5} {'connect s':>9} {'steady msg/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'held msg/s':>10} "
        f"{'brk CPU%':>8} {'brk us/msg':>10} {'brk RSS MiB':>11} {'KiB/gw':>6} {'ms/conn':>7} {'brk fds':>7} "
        f"{'restart s':>9}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        connect, steady = r["connect"], r.get("steady", {})
        held = [p for p in r.get("ramp", []) if p["held"]]
        best: dict[str, Any] = max(held, key=lambda p: float(p["achieved_msg_s"]), default={})
        rows.append(
            f"{r['gateways']:>5} {_num(connect['fleet_s'], '{:.2f}'):>9} "
            f"{_num(steady.get('all_msg_s'), '{:.1f}'):>12} {_num(steady.get('latency_p50_ms'), '{:.1f}'):>7} "
            f"{_num(steady.get('latency_p99_ms'), '{:.1f}'):>7} {_num(r.get('held_msg_s')):>10} "
            f"{_num(best.get('broker_cpu_pct')):>8} {_num(best.get('broker_cpu_us_per_msg'), '{:.0f}'):>10} "
            f"{_num(best.get('broker_rss_mib', connect['broker_rss_after_mib']), '{:.1f}'):>11} "
            f"{_num(connect['broker_rss_per_gateway_kib']):>6} "
            f"{_num(connect['broker_cpu_ms_per_connect'], '{:.2f}'):>7} {_num(connect['broker_fds']):>7} "
            f"{_num(r.get('restart', {}).get('fleet_s'), '{:.2f}'):>9}"
        )
    return rows


def ramp_rows(result: dict[str, Any]) -> list[str]:
    """The ramp of one fleet size, step by step, with CPU of every party."""
    rows = [f"N={result['gateways']} ({result['processes']} worker processes): ramp"]
    for p in result.get("ramp", []):
        verdict = "held" if p["held"] else "NOT HELD: " + "; ".join(p["failures"])
        busy = "; busy: " + ", ".join(p["saturated"]) if p["saturated"] else ""
        rows.append(
            f"  offered {p['offered_msg_s']:>6,.0f} stored {p['achieved_msg_s']:>7,.0f} msg/s  "
            f"p50 {_num(p['latency_p50_ms'], '{:.1f}'):>7} p99 {_num(p['latency_p99_ms'], '{:.1f}'):>7} ms  "
            f"CPU% broker {p['broker_cpu_pct']:.0f} workers {p['workers_cpu_pct']:.0f} "
            f"subscribers {p['subscribers_cpu_pct']:.0f} machine {p['machine_busy_pct']:.0f}  {verdict}{busy}"
        )
    rows.append(f"  first to break: {result.get('broke') or 'nothing within the ramp'}")
    return rows


METHOD = """\
connect s: every gateway started at once (its own client id and certificate, mutual TLS) until the last CONNACK.
steady msg/s: each gateway 1 event/min of the sensor-only mix + 3 retained source statuses every 10 s
  (all messages published per s over the fleet).
p50/p99: stored in the gateway's outbox -> received by each subscriber it is for (its actor's, and the
  operator's reading city/v1/#), the same monotonic clock on both ends.
held msg/s: the highest ramp step (event messages/s over the fleet, 10 s each) with no delivery lost,
  p99 <= 1 s and >= 90 % of the offered rate stored by the generator.
brk: the mosquitto process from /proc (CPU % of one core; it is single-threaded), at the best held step;
  us/msg = broker CPU time / messages published (each reaches 2 subscribers); KiB/gw = broker RSS growth
  / connected gateways; ms/conn = broker CPU time of the connect phase / gateways (TLS handshake, ACL).
restart s: broker SIGTERM and start on the same port until every gateway's CONNACK (paho back-off 1-30 s)."""


def table(results: Sequence[dict[str, Any]], acl: list[dict[str, Any]], note: str) -> str:
    """Everything a person reads: machine, headline rows, each ramp, the ACL sizes, the method."""
    lines = [machine(), note, "", *summary_rows(results), ""]
    for result in results:
        lines += [*ramp_rows(result), ""]
    if acl:
        lines += [*acl_load.rows(acl), ""]
    return "\n".join([*lines, METHOD])


def write_json(
    path: Path, results: Sequence[dict[str, Any]], acl: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    """Write every figure of the run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"machine": machine(), **meta, "method": METHOD, "results": list(results), "acl_load": acl}
    path.write_text(json.dumps(body, indent=1) + "\n")
