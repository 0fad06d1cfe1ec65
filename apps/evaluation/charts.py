"""The leaderboard of a task's candidates: one bar per candidate for its agreement with the LLM, a whisker
for the 95% interval, and the target as a dashed line. Server-rendered SVG, no JavaScript."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Entry:
    label: str
    agreement: float
    low: float
    high: float
    verdict: str  # ready, not_ready or inconclusive: the bar's colour
    href: str = ""
    selected: bool = False
    note: str = ""  # a second line: the candidate's kind and size of test


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def leaderboard(entries: Sequence[Entry], *, target: float, width: int = 760, row_height: int = 46) -> SafeString:
    """Bars on a 0-100% scale (so a short bar is a low agreement), best first as given."""
    left, right, top, bottom = 230, 150, 24, 26
    plot_w = width - left - right
    height = top + max(len(entries), 1) * row_height + bottom

    def x(value: float) -> float:
        return left + plot_w * min(max(value, 0.0), 1.0)

    title = f"Agreement with the LLM of {len(entries)} candidate{'s' if len(entries) != 1 else ''}, with 95% intervals"
    out = [
        f'<svg class="chart leaderboard" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in TICKS:
        tx = x(tick)
        out.append(f'<line class="chart-grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 4}" y2="{height - bottom}"/>')
        out.append(
            f'<text class="chart-axis" x="{tx:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{tick * 100:.0f}%</text>"
        )
    for i, entry in enumerate(entries):
        y = top + i * row_height
        mid = y + row_height / 2
        label = entry.label if len(entry.label) <= 30 else entry.label[:29] + "…"
        tooltip = (
            f"{entry.label}: agreement {_pct(entry.agreement)}, 95% interval {_pct(entry.low)} to {_pct(entry.high)}"
        )
        row = [
            f'<g class="chart-item leader-row{" is-selected" if entry.selected else ""}">',
            f"<title>{escape(tooltip)}</title>",
            f'<rect class="chart-hit" x="0" y="{y}" width="{width}" height="{row_height - 2}" rx="4"/>',
            f'<text class="chart-label" x="{left - 12}" y="{mid - (2 if entry.note else -4):.1f}" text-anchor="end">'
            f"{escape(label)}</text>",
        ]
        if entry.note:
            row.append(
                f'<text class="chart-axis" x="{left - 12}" y="{mid + 12:.1f}" text-anchor="end">'
                f"{escape(entry.note)}</text>"
            )
        bar_h = row_height - 22
        row += [
            f'<rect class="chart-track" x="{left}" y="{mid - bar_h / 2:.1f}" width="{plot_w}" height="{bar_h}" '
            'rx="3"/>',
            f'<rect class="leader-bar leader-{escape(entry.verdict)}" x="{left}" y="{mid - bar_h / 2:.1f}" '
            f'width="{max(x(entry.agreement) - left, 1.5):.1f}" height="{bar_h}" rx="3"/>',
            f'<line class="leader-whisker" x1="{x(entry.low):.1f}" x2="{x(entry.high):.1f}" y1="{mid:.1f}" '
            f'y2="{mid:.1f}"/>',
        ]
        for end in (entry.low, entry.high):
            row.append(
                f'<line class="leader-whisker" x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{mid - 7:.1f}" '
                f'y2="{mid + 7:.1f}"/>'
            )
        row += [
            f'<circle class="leader-point" cx="{x(entry.agreement):.1f}" cy="{mid:.1f}" r="3.5"/>',
            f'<text class="chart-value leader-value" x="{left + plot_w + 12}" y="{mid - 2:.1f}">'
            f"{_pct(entry.agreement)}</text>",
            f'<text class="chart-axis" x="{left + plot_w + 12}" y="{mid + 12:.1f}">'
            f"{_pct(entry.low)} to {_pct(entry.high)}</text>",
            "</g>",
        ]
        inner = "".join(row)
        out.append(f'<a href="{escape(entry.href)}">{inner}</a>' if entry.href else inner)
    tx = x(target)
    out.append(
        f'<line class="leader-target" x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 8}" y2="{height - bottom}"/>'
        f'<text class="leader-target-label" x="{tx:.1f}" y="{top - 12}" text-anchor="middle">'
        f"target {target * 100:g}%</text>"
    )
    out.append("</svg>")
    return mark_safe("".join(out))  # every piece of text above is escaped
