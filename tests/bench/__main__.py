"""`python -m tests.bench [PART ...]`: run the benchmarks, print the table, write run/bench.json.

Parts: decoders (figure 1), site (2), latency (3), drain (4, needs site's event rate, so runs it
too), camera (5-7), shadow (8). Without arguments every part runs; a partial run writes run/bench-<parts>.json.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.bench import camera, decoders, drain, latency, shadow, site_cpu
from tests.bench.report import Figure, table, write_json

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "run"
PARTS = ("decoders", "site", "latency", "drain", "camera", "shadow")


def measure(workdir: Path, parts: tuple[str, ...] = PARTS) -> list[Figure]:
    """The figures of `parts`, in order; figure 4's realistic backlog comes from figure 2's event rate."""
    figures: list[Figure] = []
    if "decoders" in parts:
        print("figure 1: decoder throughput ...", file=sys.stderr)
        figures += decoders.run()
    if "site" in parts or "drain" in parts:
        site_figures, site = site_cpu.run(workdir / "site")
        figures += site_figures
    if "latency" in parts:
        figures += latency.run(workdir / "latency")
    if "drain" in parts:
        figures += drain.run(workdir / "drain", site.events / site.window_s)
    if "camera" in parts:
        figures += camera.run(workdir / "camera")
    if "shadow" in parts:
        print("figure 8: shadow rollout overhead and rollback ...", file=sys.stderr)
        figures += shadow.run(workdir / "shadow")
    return figures


def main(argv: list[str]) -> int:
    """Run, print, write; the work directory (brokers, ptys, outboxes) lives under run/ and is removed."""
    unknown = [part for part in argv if part not in PARTS]
    if unknown:
        print(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(PARTS)}", file=sys.stderr)
        return 2
    parts = tuple(part for part in PARTS if part in argv) if argv else PARTS
    started = time.monotonic()
    RUN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=RUN) as tmp:
        figures = measure(Path(tmp), parts)
    elapsed = time.monotonic() - started
    print(table(figures, elapsed))
    out = RUN / ("bench.json" if parts == PARTS else f"bench-{'-'.join(parts)}.json")
    write_json(out, figures, elapsed)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
