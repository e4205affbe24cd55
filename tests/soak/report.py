"""A soak's figures and verdict: JSON, a text summary and an SVG plot of memory and delivery delay."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.soak import monitor
from tests.soak.run import Soak
from tests.soak.svg import plot


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much a gateway may grow after its warm-up and still count as flat (generous on purpose)."""

    rss_growth_kb: int = 40_000
    fds_growth: int = 8


def figures(soak: Soak, bounds: Bounds = Bounds()) -> dict[str, Any]:
    """Everything measured, and each check with its verdict."""
    o = soak.options
    growth = monitor.growth(soak.samples, o.warmup_s)
    delay_values = sorted(d for _, d in soak.delays)
    kinds: dict[str, list[float | None]] = {}
    for outcome in soak.outcomes:
        kinds.setdefault(outcome.kind, []).append(outcome.recovered_s)
    procs = growth["processes"]
    checks = {
        "no_event_lost": soak.transport.get("lost", 1) == 0,
        "duplicates_identical": soak.transport.get("duplicates_changed", 1) == 0,
        "messages_keep_the_contract": soak.transport.get("contract_broken", 1) == 0,
        "ground_truth_arrived": not soak.truth.get("missing", ["(not run)"]),
        "every_fault_recovered_in_bound": bool(soak.outcomes) and all(x.ok for x in soak.outcomes),
        "gateway_never_died_by_itself": not soak.crashes and soak.exit_code == 0 and soak.tracebacks == 0,
        "rss_flat": bool(procs) and all(p["rss_growth_kb"] <= bounds.rss_growth_kb for p in procs),
        "fds_flat": bool(procs) and all(p["fds_growth"] <= bounds.fds_growth for p in procs),
    }
    return {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(o).items()},
        "wall_s": round(soak.ended_wall - soak.began_wall, 1),
        "plays_of_scenario": soak.plays,
        "checks": checks,
        "passed": all(checks.values()),
        "bounds": asdict(bounds),
        "not_covered": soak.not_covered,
        "transport": soak.transport,
        "ground_truth": soak.truth,
        "recovery_s_by_kind": {k: _spread(v) for k, v in sorted(kinds.items())},
        "faults": [x.to_json() for x in soak.outcomes],
        "delivery_delay_s": _spread(delay_values),
        "memory_and_files": growth,
        "cpu": monitor.cpu(soak.samples),
        "harness_cpu_pct": soak.harness_cpu_pct,
        "crashes": soak.crashes,
        "exit_code": soak.exit_code,
        "tracebacks_in_log": soak.tracebacks,
        "gateway_log": soak.log,
        "series": {
            "gateway": [[s.t, s.pid, s.rss_kb, s.fds, s.cpu_pct, s.threads] for s in soak.samples],
            "gateway_columns": ["s", "pid", "rss_kb", "fds", "cpu_pct", "threads"],
            "delivery_delay": [list(point) for point in soak.delays],
            "delivery_delay_columns": ["s", "delay_s"],
        },
    }


def _spread(values: list[float | None] | list[float]) -> dict[str, Any]:
    known = sorted(v for v in values if v is not None)
    if not known:
        return {"n": len(values), "unrecovered": len(values)}
    return {
        "n": len(values),
        "unrecovered": len(values) - len(known),
        "median": round(statistics.median(known), 2),
        "p95": round(known[min(len(known) - 1, int(0.95 * len(known)))], 2),
        "max": round(known[-1], 2),
    }


def summary(fig: dict[str, Any]) -> str:
    """The figures as a short text for people."""
    t, g, c, o = fig["transport"], fig["ground_truth"], fig["cpu"], fig["options"]
    checks = "  ".join(f"{k}={'ok' if v else 'FAILED'}" for k, v in fig["checks"].items())
    lines = [
        (
            f"soak: {o['minutes']} min asked, {fig['wall_s']:.0f} s run, seed {o['seed']}, "
            f"scenario {o['scenario']} x{o['time_scale']:g} played {fig['plays_of_scenario']} times"
        ),
        f"verdict: {'PASS' if fig['passed'] else 'FAIL'}  {checks}",
        (
            f"events: {t['audited']} audited, {t['delivered']} delivered ({t['messages']} messages), "
            f"{t['lost']} lost, {t['delivered_not_audited']} delivered but not audited, {t['duplicated']} duplicated ({t['duplicates_changed']} changed, "
            f"{t['duplicates_differing_only_in_historical']} only in `historical`), {t['historical']} historical"
        ),
        (
            f"ground truth: {g['arrived']}/{g['expected']} required arrived, {len(g['missing'])} missing, "
            f"{len(g['blind'])} blind, {g['unexpected']} unexpected ({g['periodic']} periodic summaries besides)"
        ),
        f"delivery delay [s]: {fig['delivery_delay_s']}",
        (
            f"gateway CPU: mean {c['mean_pct']} %, p95 {c['p95_pct']} % of one core "
            f"(the soak's own simulators, camera and subscriber: {fig['harness_cpu_pct']} %)"
        ),
        f"contract: {t['contract_checked']} messages checked, {t['contract_broken']} broken",
        "recovery [s] by fault (from cleared):",
    ]
    lines += [f"  {k:15s} {v}" for k, v in fig["recovery_s_by_kind"].items()]
    stalls = [f["noticed_s"] for f in fig["faults"] if f["kind"] == "link_stall"]
    if stalls:
        lines.append(
            f"half-open link noticed after [s]: {stalls} (bound 1.5 x keepalive = {1.5 * fig['options']['keepalive_s']:g})"
        )
    lines.append("memory and open files per gateway process (after warm-up):")
    lines += [
        f"  pid {p['pid']}: {p['seconds']:.0f} s, RSS {p['rss_start_kb'] / 1024:.1f} -> {p['rss_end_kb'] / 1024:.1f} MB "
        f"(max {p['rss_max_kb'] / 1024:.1f}, trend {p['rss_trend_kb_per_min']} kB/min), fds {p['fds_start']} -> {p['fds_end']}"
        for p in fig["memory_and_files"]["processes"]
    ]
    for key in ("missing", "blind"):
        lines += [f"{key}: {m}" for m in g[key]]
    lines += [f"unexpected: {u}" for u in g["unexpected_examples"]]
    lines += [f"contract broken: {b}" for b in t["contract_broken_examples"]]
    lines += [f"not covered: {k}: {v}" for k, v in fig["not_covered"].items()]
    lines += [f"gateway died by itself at {c['at_s']} s with {c['exit_code']}" for c in fig["crashes"]]
    return "\n".join(lines) + "\n"


def write(soak: Soak, out: Path, bounds: Bounds = Bounds()) -> dict[str, Any]:
    """soak.json, soak.txt and soak.svg in `out`; the figures."""
    fig = figures(soak, bounds)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(fig, indent=1))
    (out / "soak.txt").write_text(summary(fig))
    samples = [(s.t, s.rss_kb / 1024, s.pid) for s in soak.samples]
    faults = [
        (x.started_mono - soak.began_mono, x.cleared_mono - soak.began_mono, x.kind) for x in soak.outcomes
    ]
    (out / "soak.svg").write_text(plot(samples, soak.delays, faults))
    return fig
