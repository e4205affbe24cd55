"""What the doctor found: one `Finding` per thing checked, shown as a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


class Status(StrEnum):
    """ok: fine; warn: works, but look at it; fail: the gateway will not do its job; skip: not checked."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict: what was found and, unless all is well, the one thing to do next."""

    check: str  # config, serial, camera, broker, clock, disk, models, policy
    subject: str  # what was checked: a sensor id and port, a camera id, an address, a path
    status: Status
    found: str
    action: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def exit_code(findings: Sequence[Finding]) -> int:
    """1 if anything failed, else 0 (warnings do not fail a doctor run)."""
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


def as_json(findings: Sequence[Finding]) -> str:
    """The machine-readable report: {"ok": bool, "checks": [...]}."""
    checks = [
        {
            "check": f.check,
            "subject": f.subject,
            "status": str(f.status),
            "found": f.found,
            "action": f.action,
            "details": dict(f.details),
        }
        for f in findings
    ]
    return json.dumps({"ok": exit_code(findings) == 0, "checks": checks}, indent=2, default=str)


def print_table(findings: Sequence[Finding], console: Console) -> None:
    """The technician's table, then a one-line verdict."""
    table = Table("", "check", "subject", "found", "next step", show_lines=False, expand=False)
    for f in findings:
        style = STYLE[f.status]
        table.add_row(
            f"[{style}]{f.status}[/]", f.check, escape(f.subject), escape(f.found), escape(f.action)
        )
    console.print(table)
    counts = {s: sum(f.status is s for f in findings) for s in Status}
    verdict = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    style = "bold red" if counts[Status.FAIL] else "yellow" if counts[Status.WARN] else "green"
    console.print(f"[{style}]{verdict}[/]")
