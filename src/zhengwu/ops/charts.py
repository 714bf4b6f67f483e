"""Line charts drawn as inline SVG on the server (no script, no chart library, nothing fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from zhengwu.kernel.clock import BEIJING

WIDTH, HEIGHT = 560, 160
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _clock(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%H:%M")


def line_chart(
    title: str, unit: str, points: Sequence[tuple[datetime, float]], colour: str = "#0969da"
) -> str:
    """An SVG line of ``points`` (time, value) with its highest value, its time span in 北京时间 and a text
    alternative; fewer than two points draw the message instead."""
    label = escape(f"{title}（{unit}）")
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
    )
    frame = (
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
        'fill="#fff" stroke="#d0d7de"/>'
    )
    if len(points) < 2:
        message = (
            '<text x="{}" y="{}" text-anchor="middle" fill="#656d76" font-size="13">采样不足，稍后刷新</text>'
        )
        return head + frame + message.format((WIDTH + LEFT) // 2, HEIGHT // 2) + "</svg>"
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1.0)
    top = max(value for _, value in points)
    ceiling = top if top > 0 else 1.0
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    coords = " ".join(
        f"{LEFT + inner_w * (at - start).total_seconds() / span:.1f},"
        f"{TOP + inner_h * (1 - value / ceiling):.1f}"
        for at, value in points
    )
    last = points[-1][1]
    axis = (
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end" font-size="11" fill="#656d76">'
        f"{escape(_number(ceiling))}</text>"
        f'<text x="{LEFT - 6}" y="{HEIGHT - BOTTOM}" text-anchor="end" font-size="11" fill="#656d76">0</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#656d76">{_clock(start)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" fill="#656d76">'
        f"{_clock(end)}（北京时间）</text>"
    )
    line = f'<polyline points="{coords}" fill="none" stroke="{escape(colour)}" stroke-width="2"/>'
    title_text = f"<title>{label}：最新 {escape(_number(last))}</title>"
    return head + title_text + frame + axis + line + "</svg>"
