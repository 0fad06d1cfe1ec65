"""Small server-rendered SVG charts: no JavaScript, tooltips through <title>, colours from app.css."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    tooltip: str = ""
    href: str = ""
    highlight: float = 0.0  # a part of the bar drawn in the warning colour (errors)
    segments: tuple[float, ...] = ()  # stacked parts, one per series of a stacked chart


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `maximum`: 0, 5, 10, 15, 20..."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt_number(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".removesuffix(".0") + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def _link(inner: str, href: str) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def column_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: int = 1160,
    height: int = 260,
    y_label: str = "",
    max_x_labels: int = 16,
    fmt: Callable[[float], str] = _fmt_number,
    stacked: bool = False,
) -> SafeString:
    """Vertical bars over time (or any ordered labels) with a y axis, gridlines and thinned x labels.
    `stacked`: each bar is drawn as its segments, coloured by series (classes chart-series-0..9)."""
    left, right, top, bottom = 52, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max((b.value for b in bars), default=0))
    top_value = ticks[-1]
    out = [
        f'<svg class="chart chart-columns" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks:
        y = top + plot_h - plot_h * tick / top_value
        out.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="chart-axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(tick))}</text>'
        )
    if y_label:
        out.append(
            f'<text class="chart-axis chart-axis-title" transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
    n = max(len(bars), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.72, 48), 1.5)
    every = max(1, math.ceil(n / max_x_labels))
    for i, bar in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        h = plot_h * bar.value / top_value
        y = top + plot_h - h
        tooltip = escape(bar.tooltip or f"{bar.label}: {fmt(bar.value)}")
        # A full-height transparent hit area makes thin bars easy to hover.
        shapes = [f'<rect class="chart-hit" x="{left + slot * i:.1f}" y="{top}" width="{slot:.1f}" height="{plot_h}"/>']
        if stacked:
            base = float(top + plot_h)
            for k, part in enumerate(bar.segments):
                ph = plot_h * part / top_value
                if ph > 0:
                    base -= ph
                    shapes.append(
                        f'<rect class="chart-series-{k % 10}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                        f'height="{ph:.1f}"/>'
                    )
        else:
            shapes.append(
                f'<rect class="chart-bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="2"/>'
            )
        if bar.highlight > 0:
            hh = plot_h * min(bar.highlight, bar.value) / top_value
            shapes.append(
                f'<rect class="chart-bar-alert" x="{x:.1f}" y="{top + plot_h - hh:.1f}" width="{bar_w:.1f}" '
                f'height="{hh:.1f}"/>'
            )
        out.append(_link(f'<g class="chart-item"><title>{tooltip}</title>{"".join(shapes)}</g>', bar.href))
        if i % every == 0:
            cx = left + slot * i + slot / 2
            out.append(
                f'<text class="chart-axis" x="{cx:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
                f"{escape(bar.label)}</text>"
            )
    out.append(
        f'<line class="chart-baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    out.append("</svg>")
    return mark_safe("".join(out))  # every piece of text above is escaped


def bar_list_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: int = 560,
    row_height: int = 30,
    label_width: int = 200,
    fmt: Callable[[float], str] = _fmt_number,
) -> SafeString:
    """Horizontal bars, one row per label (agents, models), largest first as given."""
    value_width = 60
    plot_w = width - label_width - value_width - 8
    height = max(len(bars), 1) * row_height + 4
    biggest = max((b.value for b in bars), default=0) or 1
    out = [
        f'<svg class="chart chart-bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = i * row_height + 2
        w = max(plot_w * bar.value / biggest, 2)
        label = bar.label if len(bar.label) <= 28 else bar.label[:27] + "…"
        tooltip = escape(bar.tooltip or f"{bar.label}: {fmt(bar.value)}")
        row = (
            f'<g class="chart-item"><title>{tooltip}</title>'
            f'<rect class="chart-hit" x="0" y="{y}" width="{width}" height="{row_height - 2}"/>'
            f'<text class="chart-label" x="{label_width - 10}" y="{y + row_height / 2 + 3:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="chart-track" x="{label_width}" y="{y + 6}" width="{plot_w}" height="{row_height - 14}" '
            f'rx="3"/>'
            f'<rect class="chart-bar" x="{label_width}" y="{y + 6}" width="{w:.1f}" height="{row_height - 14}" '
            f'rx="3"/>'
            f'<text class="chart-value" x="{label_width + plot_w + 8}" y="{y + row_height / 2 + 3:.1f}">'
            f"{escape(fmt(bar.value))}</text></g>"
        )
        out.append(_link(row, bar.href))
    out.append("</svg>")
    return mark_safe("".join(out))  # every piece of text above is escaped
