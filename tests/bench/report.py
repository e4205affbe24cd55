"""The figures a benchmark produces, printed as one table with a method line each, and as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number and how it was measured."""

    key: str
    label: str
    value: float
    unit: str
    method: str


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(figures: Sequence[Figure], run_time_s: float) -> str:
    """The figures as text: one row each, then every distinct method once, numbered."""
    methods: list[str] = []
    rows: list[str] = []
    for fig in figures:
        if fig.method not in methods:
            methods.append(fig.method)
        ref = methods.index(fig.method) + 1
        rows.append(f"{fig.label:<46} {_fmt(fig.value):>10}  {fig.unit:<14} [{ref}]")
    header = f"{'figure':<46} {'value':>10}  {'unit':<14} method"
    lines = [machine(), header, "-" * len(header), *rows, ""]
    lines += [f"[{i}] {text}" for i, text in enumerate(methods, start=1)]
    lines.append(f"run time {run_time_s:.0f} s")
    return "\n".join(lines)


def machine() -> str:
    """One line naming the machine the figures belong to."""
    return (
        f"bench on {platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}"
    )


def write_json(path: Path, figures: Sequence[Figure], run_time_s: float) -> None:
    """Write the figures (with their methods) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"machine": machine(), "run_time_s": round(run_time_s, 1), "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(body, indent=1) + "\n")
