"""The progress chart as SVG markup made on the server: the CSP forbids inline scripts and styles,
not inline SVG, and a chart drawn here needs no JavaScript library. Colours come from ``staff.css``
classes; the figures are in the page's table too (the SVG is ``role="img"`` with a text summary)."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from reconciliation.progress import ProgressPoint

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 40


def progress_svg(points: list[ProgressPoint], *, title: str, summary: str, day_label: str) -> str:
    """Bars of the daily share (percent, 0–100) with a line through their tops."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="chart-title chart-desc" id="progress-chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(summary)}</desc>',
    ]
    for percent in (0, 25, 50, 75, 100):
        y = TOP + plot_h - plot_h * percent / 100
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{percent}%</text>')
    count = max(len(points), 1)
    step = plot_w / count
    bar_w = max(min(step * 0.6, 48), 2)
    line: list[str] = []
    label_every = max(1, count // 10)
    for index, point in enumerate(points):
        share = min(max(point.share, Decimal(0)), Decimal(100))
        height = float(share) / 100 * plot_h
        x = LEFT + step * index + (step - bar_w) / 2
        y = TOP + plot_h - height
        cx = x + bar_w / 2
        parts.append(
            f'<rect class="bar" data-day="{point.day.isoformat()}" data-share="{point.share}" '
            f'x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}">'
            f"<title>{escape(day_label)} {point.day.isoformat()}: {point.share}% "
            f"({point.bound_verified}/{point.active_cards})</title></rect>"
        )
        line.append(f"{cx:.1f},{y:.1f}")
        if index % label_every == 0 or index == count - 1:
            parts.append(
                f'<text class="axis" x="{cx:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{point.day.strftime('%d.%m')}</text>"
            )
    if len(line) > 1:
        parts.append(f'<polyline class="trend" points="{" ".join(line)}"/>')
    parts.append(
        f'<line class="axis-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
