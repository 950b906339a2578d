"""Charts as inline SVG, drawn on the server: horizontal bars, small line charts and traffic lights.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (the figures in words)
that screen readers read, and every text in it is escaped. Sizes are in a ``viewBox`` so a chart
scales with its box; labels sit left of the bars, so Chinese and English labels both fit.
Each bar and point carries ``data-label`` and ``data-value`` for tests and scripts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Bar", "Series", "bar_chart", "line_chart", "traffic_light"]

TONES = {"green": "#2f9e44", "yellow": "#f59f00", "red": "#e03131", "blue": "#1c7ed6", "grey": "#adb5bd", "brand": "#c8102e", "none": "#adb5bd"}


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, the text shown beside it (default: the value) and its tone."""

    label: str
    value: float
    shown: str | None = None
    tone: str = "blue"


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a value per label (None: no point)."""

    name: str
    values: Sequence[float | None]
    tone: str = "blue"


def _width(text: str) -> float:
    """Rough width of ``text`` in units of a Latin character (CJK characters count two)."""
    return sum(2.0 if unicodedata.east_asian_width(c) in ("W", "F") else 1.0 for c in text)


def _number(value: float) -> str:
    return f"{value:g}" if abs(value - round(value)) > 1e-9 else str(int(round(value)))


def _frame(chart_id: str, title: str, desc: str, width: float, height: float, body: str, test: str | None) -> Markup:
    test_attr = f' data-test="{escape(test)}"' if test else ""
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" preserveAspectRatio="xMinYMin meet"{test_attr}>'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title><desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>{body}</svg>'
    )


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar], *, desc: str | None = None, max_value: float | None = None, test: str | None = None) -> Markup:
    """Horizontal bars, one row per :class:`Bar`, scaled to ``max_value`` (default: the largest value)."""
    row, char = 26, 7.5
    label_w = min(220.0, max([_width(b.label) for b in bars] + [4]) * char + 10)
    value_w = min(160.0, max([_width(b.shown if b.shown is not None else _number(b.value)) for b in bars] + [3]) * char + 10)
    bar_w = 300.0
    width = label_w + bar_w + value_w
    top = max([b.value for b in bars] + [max_value or 0.0, 0.0]) or 1.0
    parts = []
    for i, b in enumerate(bars):
        y = i * row
        length = max(0.0, b.value) / top * bar_w
        shown = b.shown if b.shown is not None else _number(b.value)
        parts.append(
            f'<g class="bar" data-label="{escape(b.label)}" data-value="{escape(_number(b.value))}">'
            f'<text x="{label_w - 8:g}" y="{y + 17}" text-anchor="end" class="label">{escape(b.label)}</text>'
            f'<rect x="{label_w:g}" y="{y + 5}" width="{length:.1f}" height="16" rx="3" fill="{TONES.get(b.tone, TONES["blue"])}"></rect>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 17}" class="value">{escape(shown)}</text></g>'
        )
    if desc is None:
        desc = "; ".join(f"{b.label}: {b.shown if b.shown is not None else _number(b.value)}" for b in bars)
    return _frame(chart_id, title, desc, width, max(row, row * len(bars)) + 4, "".join(parts), test)


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *, desc: str | None = None, max_value: float | None = None, test: str | None = None, fmt: str = "{:g}"
) -> Markup:
    """A small line chart: one x position per label, one polyline (and dots) per :class:`Series`."""
    left, right, top_pad, bottom = 44.0, 12.0, 12.0, 40.0
    plot_w = max(240.0, 56.0 * max(1, len(labels) - 1))
    plot_h = 140.0
    width, height = left + plot_w + right, top_pad + plot_h + bottom
    values = [v for s in series for v in s.values if v is not None]
    top = max(values + [max_value or 0.0]) or 1.0
    step = plot_w / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return left + (i * step if len(labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - (v / top) * plot_h

    parts = [
        f'<line x1="{left:g}" y1="{top_pad + plot_h:g}" x2="{left + plot_w:g}" y2="{top_pad + plot_h:g}" class="axis"></line>',
        f'<line x1="{left:g}" y1="{top_pad:g}" x2="{left:g}" y2="{top_pad + plot_h:g}" class="axis"></line>',
        f'<text x="{left - 6:g}" y="{top_pad + 4:g}" text-anchor="end" class="tick">{escape(fmt.format(top))}</text>',
        f'<text x="{left - 6:g}" y="{top_pad + plot_h:g}" text-anchor="end" class="tick">0</text>',
    ]
    for i, label in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{top_pad + plot_h + 16:g}" text-anchor="middle" class="tick">{escape(label)}</text>')
    for k, s in enumerate(series):
        colour = TONES.get(s.tone, TONES["blue"])
        points = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}"></polyline>')
        for i, v in enumerate(s.values):
            if v is not None:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}" data-series="{escape(s.name)}" data-label="{escape(labels[i])}" data-value="{escape(fmt.format(v))}">'
                    f"<title>{escape(s.name)} {escape(labels[i])}: {escape(fmt.format(v))}</title></circle>"
                )
        # legend under the axis labels
        lx = left + k * 150
        parts.append(f'<rect x="{lx:g}" y="{height - 14:g}" width="10" height="10" fill="{colour}"></rect><text x="{lx + 14:g}" y="{height - 5:g}" class="tick">{escape(s.name)}</text>')
    if desc is None:
        desc = " ".join(
            f"{s.name}: " + ", ".join(f"{label} {fmt.format(v)}" for label, v in zip(labels, s.values, strict=False) if v is not None) + "." for s in series
        )
    return _frame(chart_id, title, desc, width, height, "".join(parts), test)


def traffic_light(light: str, label: str) -> Markup:
    """A coloured dot (green, yellow, red; grey for none) with its meaning as the accessible name."""
    colour = TONES.get(light, TONES["grey"])
    return Markup(
        f'<svg class="light-dot" role="img" aria-label="{escape(label)}" viewBox="0 0 16 16" width="16" height="16" data-light="{escape(light)}">'
        f'<title>{escape(label)}</title><circle cx="8" cy="8" r="7" fill="{colour}" stroke="#1f2933" stroke-opacity=".25"></circle></svg>'
    )
