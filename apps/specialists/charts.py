"""A server-rendered SVG line chart for training curves (train and validation loss against steps)."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.common.charts import nice_ticks

# The colours of chart-series-0..1 and legend-series-0..1 in app.css, set inline on the strokes.
COLOURS = ("#4f46e5", "#0ea5e9", "#f59e0b", "#10b981")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (x, y), x ascending
    dots: bool = False  # mark every point (sparse series such as validation loss)


def _fmt(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    width: int = 720,
    height: int = 240,
    x_label: str = "Step",
    y_label: str = "",
) -> SafeString:
    """Lines on shared axes from 0; each point's value in a tooltip. Empty series draw axes only."""
    left, right, top, bottom = 52, 14, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    x_max = max(xs, default=1.0) or 1.0
    y_ticks = nice_ticks(max(ys, default=0.0))
    y_top = y_ticks[-1] or 1.0
    x_ticks = [t for t in nice_ticks(x_max, count=5) if t <= x_max] or [0.0]

    def at(x: float, y: float) -> tuple[float, float]:
        return left + plot_w * x / x_max, top + plot_h - plot_h * y / y_top

    out = [
        f'<svg class="chart chart-lines" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in y_ticks:
        _, y = at(0, tick)
        out.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="chart-axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    for tick in x_ticks:
        x, _ = at(tick, 0)
        out.append(
            f'<text class="chart-axis" x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_fmt(tick)}</text>'
        )
    out.append(
        f'<text class="chart-axis chart-axis-title" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    if y_label:
        out.append(
            f'<text class="chart-axis chart-axis-title" transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
    out.append(
        f'<line class="chart-baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        coords = [at(x, y) for x, y in s.points]
        if len(coords) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(
                f'<polyline class="chart-line chart-line-{index}" points="{line}" fill="none" stroke="{colour}" '
                f'stroke-width="2" stroke-linejoin="round"><title>{escape(s.name)}</title></polyline>'
            )
        if s.dots or len(coords) == 1:
            for (x, y), (px, py) in zip(s.points, coords, strict=True):
                out.append(
                    f'<circle class="chart-dot" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(s.name)} at step {_fmt(x)}: {y:.4f}</title></circle>"
                )
    out.append("</svg>")
    return mark_safe("".join(out))  # every interpolated text is escaped above
