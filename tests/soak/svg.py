"""A two-panel SVG, written by hand (no plotting library in the project): the gateway's RSS and each
event's delivery delay over the soak, with the faults shaded behind both."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

W, PANEL_H, LEFT, TOP, GAP = 960, 220, 70, 30, 60
COLOURS = {
    "broker_restart": "#e6550d",
    "link_stall": "#fd8d3c",
    "link_drop": "#fdae6b",
    "gateway_kill": "#d62728",
    "disk_full": "#9467bd",
    "serial_unplug": "#2ca02c",
    "serial_garbage": "#98df8a",
    "camera_stall": "#1f77b4",
    "camera_down": "#aec7e8",
}


def plot(
    memory: Sequence[tuple[float, float, int]],
    delays: Sequence[tuple[float, float]],
    faults: Sequence[tuple[float, float, str]],
) -> str:
    """`memory`: (s, RSS MB, pid); `delays`: (s, delay s); `faults`: (from s, to s, kind)."""
    end = max([t for t, _, _ in memory] + [t for t, _ in delays] + [b for _, b, _ in faults] + [1.0])
    width = W - LEFT - 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{TOP + 2 * PANEL_H + GAP + 70}" font-family="sans-serif" font-size="11">'
    ]
    born: dict[int, float] = {}
    for t, _, pid in memory:
        born.setdefault(pid, t)
    # the scale follows running gateways, not the first seconds of a restarted one
    rss = [m for t, m, pid in memory if t - born[pid] >= 10.0] or [m for _, m, _ in memory] or [0.0, 1.0]
    span = max(max(rss) - min(rss), 8.0)  # at least 8 MB tall: a flat line looks flat
    rss_lo, rss_hi = max(0.0, min(rss) - 0.25 * span), max(rss) + 0.25 * span
    delay_hi = max([d for _, d in delays] + [1.0]) * 1.1
    panels = (("gateway RSS [MB]", rss_lo, rss_hi), ("delivery delay [s]", 0.0, delay_hi))
    for n, (title, lo, hi) in enumerate(panels):
        parts += _frame(TOP + n * (PANEL_H + GAP), width, title, lo, hi, end, faults)

    def x(t: float) -> float:
        return LEFT + width * t / end

    by_pid: dict[int, list[str]] = {}
    for t, mb, pid in memory:
        y = TOP + PANEL_H * (1 - min(max((mb - rss_lo) / (rss_hi - rss_lo), 0.0), 1.0))
        by_pid.setdefault(pid, []).append(f"{x(t):.1f},{y:.1f}")
    parts += [
        f'<polyline fill="none" stroke="#333" stroke-width="1.2" points="{" ".join(p)}"/>'
        for p in by_pid.values()
    ]
    y1 = TOP + PANEL_H + GAP
    parts += [
        f'<circle cx="{x(t):.1f}" cy="{y1 + PANEL_H * (1 - d / delay_hi):.1f}" r="2" fill="#333"/>'
        for t, d in delays
    ]
    legend_y = TOP + 2 * PANEL_H + GAP + 40
    for i, (kind, colour) in enumerate(COLOURS.items()):
        lx = LEFT + (i % 5) * 175
        ly = legend_y + (i // 5) * 16
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}" opacity="0.5"/><text x="{lx + 14}" y="{ly}">{escape(kind)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _frame(
    y0: float,
    width: float,
    title: str,
    lo: float,
    hi: float,
    end: float,
    faults: Sequence[tuple[float, float, str]],
) -> list[str]:
    """Axes, ticks, title and the shaded faults of one panel."""
    parts = [f'<text x="{LEFT}" y="{y0 - 8}" font-size="13">{escape(title)}</text>']
    for a, b, kind in faults:
        xa, xb = LEFT + width * a / end, LEFT + width * max(b, a + end / 500) / end
        parts.append(
            f'<rect x="{xa:.1f}" y="{y0}" width="{xb - xa:.1f}" height="{PANEL_H}" fill="{COLOURS.get(kind, "#ccc")}" opacity="0.35"/>'
        )
    parts.append(f'<rect x="{LEFT}" y="{y0}" width="{width}" height="{PANEL_H}" fill="none" stroke="#999"/>')
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        y = y0 + PANEL_H * (1 - i / 4)
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
    for i in range(7):
        t = end * i / 6
        xt = LEFT + width * i / 6
        parts.append(
            f'<text x="{xt:.1f}" y="{y0 + PANEL_H + 14}" text-anchor="middle">{t / 60:.1f} min</text>'
        )
    return parts
