"""Small server-rendered SVG charts: no JavaScript, tooltips through <title>, colours from app.css."""

import math
from collections.abc import Callable, Mapping, Sequence
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


def sparkline(values: Sequence[float], *, title: str, width: int = 120, height: int = 28) -> SafeString:
    """A small line of values over time (calls per day), no axes; its <title> says what it shows."""
    pad = 2.0
    n = len(values)
    biggest = max(values, default=0) or 1
    step = (width - 2 * pad) / max(n - 1, 1)

    def y(value: float) -> float:
        return height - pad - (height - 2 * pad) * value / biggest

    points = [(pad + step * i, y(v)) for i, v in enumerate(values)]
    out = [
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="sparkline-base" x1="{pad}" x2="{width - pad}" y1="{height - pad}" y2="{height - pad}"/>',
    ]
    if points:
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        area = f"{points[0][0]:.1f},{height - pad} {line} {points[-1][0]:.1f},{height - pad}"
        out.append(f'<polygon class="sparkline-area" points="{area}"/>')
        out.append(f'<polyline class="sparkline-line" points="{line}"/>')
        last_x, last_y = points[-1]
        out.append(f'<circle class="sparkline-dot" cx="{last_x:.1f}" cy="{last_y:.1f}" r="2"/>')
    out.append("</svg>")
    return mark_safe("".join(out))  # only numbers and the escaped title above


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    series: int | None = None  # coloured by class chart-series-<n>; None: grey (chart-point-none)
    tooltip: str = ""
    href: str = ""


def scatter(
    points: Sequence[Point],
    *,
    title: str,
    width: int = 1160,
    height: int = 640,
    radius: float = 3.5,
    labels: Mapping[int, str] | None = None,
    palette_size: int = 20,
) -> SafeString:
    """Points scaled to fit, without axes (a map: only nearness means something). Each point may be a
    link with a tooltip. `labels` names a series at the middle of its points (its median)."""
    pad = radius + 6
    xs, ys = [p.x for p in points], [p.y for p in points]
    x0, x1 = min(xs, default=0.0), max(xs, default=1.0)
    y0, y1 = min(ys, default=0.0), max(ys, default=1.0)
    scale = min((width - 2 * pad) / ((x1 - x0) or 1), (height - 2 * pad) / ((y1 - y0) or 1))
    # Centre the cloud; y grows upwards as on paper.
    off_x = (width - (x1 - x0) * scale) / 2
    off_y = (height - (y1 - y0) * scale) / 2

    def at(p_x: float, p_y: float) -> tuple[float, float]:
        return off_x + (p_x - x0) * scale, height - off_y - (p_y - y0) * scale

    out = [
        f'<svg class="chart chart-scatter" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    # Grey points first, so the coloured ones are drawn over them.
    for p in sorted(points, key=lambda p: p.series is not None):
        cx, cy = at(p.x, p.y)
        css = "chart-point-none" if p.series is None else f"chart-point chart-series-{p.series % palette_size}"
        tip = f"<title>{escape(p.tooltip)}</title>" if p.tooltip else ""
        out.append(_link(f'<circle class="{css}" cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}">{tip}</circle>', p.href))
    for series, name in (labels or {}).items():
        mine = sorted(at(p.x, p.y) for p in points if p.series == series)
        if not mine:
            continue
        mid_x = sorted(x for x, _ in mine)[len(mine) // 2]
        mid_y = sorted(y for _, y in mine)[len(mine) // 2]
        out.append(
            f'<text class="chart-point-label" x="{mid_x:.1f}" y="{mid_y:.1f}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # every piece of text above is escaped


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: int = 0  # drawn with class chart-series-<colour>


def stacked_area(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 1160,
    height: int = 260,
    y_label: str = "",
    max_x_labels: int = 16,
    fmt: Callable[[float], str] = _fmt_number,
) -> SafeString:
    """Series stacked over ordered labels (time), each a band on the ones before it, with the y axis and
    gridlines of column_chart. Hovering a label's column lists its values; a single label spans the width."""
    left, right, top, bottom = 52, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    ticks = nice_ticks(max(totals, default=0))
    top_value = ticks[-1]
    xs = [left + plot_w * i / (n - 1) for i in range(n)] if n > 1 else [float(left), float(width - right)]

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / top_value

    out = [
        f'<svg class="chart chart-area" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks:
        ty = y(tick)
        out.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        out.append(
            f'<text class="chart-axis" x="{left - 8}" y="{ty + 4:.1f}" text-anchor="end">{escape(fmt(tick))}</text>'
        )
    if y_label:
        out.append(
            f'<text class="chart-axis chart-axis-title" transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
    below = [0.0] * n
    for s in series:
        above = [below[i] + s.values[i] for i in range(n)]
        if n and any(s.values):
            upper, lower = (above, below) if n > 1 else (above * 2, below * 2)
            edge = [f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, upper, strict=True)]
            back = [f"{x:.1f},{y(v):.1f}" for x, v in reversed(list(zip(xs, lower, strict=True)))]
            out.append(
                f'<polygon class="chart-series-{s.colour % 10}" points="{" ".join(edge + back)}">'
                f"<title>{escape(s.name)}</title></polygon>"
            )
        below = above
    slot = plot_w / max(n - 1, 1)
    every = max(1, math.ceil(n / max_x_labels))
    for i, label in enumerate(labels):
        x = xs[i] if n > 1 else left + plot_w / 2
        values = ", ".join(f"{s.name} {fmt(s.values[i])}" for s in series)
        hit_x = max(x - slot / 2, left) if n > 1 else left
        hit_w = min(slot, width - right - hit_x) if n > 1 else plot_w
        out.append(
            f'<g class="chart-item"><title>{escape(f"{label}: {values}")}</title>'
            f'<rect class="chart-hit" x="{hit_x:.1f}" y="{top}" width="{hit_w:.1f}" height="{plot_h}"/></g>'
        )
        if i % every == 0:
            out.append(
                f'<text class="chart-axis" x="{x:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    out.append(
        f'<line class="chart-baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    out.append("</svg>")
    return mark_safe("".join(out))  # every piece of text above is escaped
