"""Display helpers shared by every page: money, durations, counts, JSON, and the signed-in person's projects."""

import json
import math
from decimal import Decimal
from typing import Any

from django import template
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from apps.projects import selectors as project_selectors
from apps.projects.models import Membership, Project

register = template.Library()


@register.filter
def can(membership: Membership | None, ability: str) -> bool:
    """`{% if membership|can:"upload" %}`: whether the current person's role includes an ability."""
    return membership is not None and membership.can(ability)


@register.filter
def exclusion_label(reason: str) -> str:
    """Why a call is not used for training, in words."""
    from apps.curation.eligibility import REASON_LABELS

    return REASON_LABELS.get(reason, reason)


@register.simple_tag
def user_projects(user: User | AnonymousUser) -> QuerySet[Project] | list[Project]:
    """The projects for the switcher in the top bar."""
    if not user.is_authenticated:
        return []
    return project_selectors.project_list(user=user).only("slug", "name")


@register.filter
def usd(value: Decimal | float | int | None) -> str:
    """Dollars with enough precision that a fraction of a cent still reads as something."""
    if value is None:
        return "—"
    amount = float(value)
    if amount == 0:
        return "$0.00"
    if abs(amount) >= 100:
        return f"${amount:,.0f}"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    if abs(amount) >= 0.01:
        return f"${amount:.3f}"
    return f"${amount:.5f}"


@register.filter
def duration_ms(value: float | int | None) -> str:
    """420 -> "420 ms", 1530 -> "1.53 s", 95000 -> "1m 35s"."""
    if value is None:
        return "—"
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m {seconds:02d}s"


@register.filter
def compact(value: float | int | None) -> str:
    """12_345 -> "12.3k", 4_200_000 -> "4.2M"; small numbers keep their digits."""
    if value is None:
        return "—"
    number = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            text = f"{number / limit:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.0123 -> "1.2%"."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


PERCENT_CLASS_PREFIXES = ("w", "l")  # width, left: static/css/percent.css has .w-0 ... .w-100, .l-0 ... .l-100


def _whole_percent(value: Any) -> int:
    """A number of percent clamped to 0-100 and rounded half up; anything that is not a number is 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    if math.isnan(number):
        return 0
    return math.floor(min(100.0, max(0.0, number)) + 0.5)


@register.filter
def pct_class(value: Any, prefix: str = "w") -> str:
    """A share in percent as one of the stylesheet's classes, for bars without style attributes (the
    Content-Security-Policy allows none): `{{ job.percent|pct_class:"w" }}` -> "w-37" (width: 37%),
    `{{ 12.6|pct_class:"l" }}` -> "l-13" (left: 13%). Clamped to 0-100 and rounded to a whole percent."""
    if prefix not in PERCENT_CLASS_PREFIXES:
        raise ValueError(f"pct_class: prefix {prefix!r} is none of {PERCENT_CLASS_PREFIXES}")
    return f"{prefix}-{_whole_percent(value)}"


@register.simple_tag
def span_classes(start: Any, end: Any) -> str:
    """A bar from `start` to `end` percent along its track, as classes: `{% span_classes 20 65 %}` ->
    "l-20 w-45" (each end clamped and rounded as pct_class does; an end before the start is an empty span)."""
    left = _whole_percent(start)
    return f"l-{left} w-{max(0, _whole_percent(end) - left)}"


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON for <pre> blocks; a JSON string is parsed first so it is shown as structure."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
