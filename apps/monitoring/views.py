"""The offload page: how much of the project's gateway traffic its specialists take, what it costs and
saves, how fast and how well; and the project's home, which is that page once a deployment exists."""

from datetime import datetime, timedelta
from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from apps.calls import views as calls_views
from apps.common.charts import Bar, Series, column_chart, stacked_area
from apps.common.pages import render_page
from apps.monitoring import selectors
from apps.monitoring.forms import DEFAULT, PERIOD_CHOICES, PeriodForm, recent
from apps.monitoring.selectors import Counts, Offload
from apps.projects.pages import ProjectRequest, project_page
from apps.serving.selectors import deployment_list

# (route, label, chart colour): the stacking order, specialist at the bottom.
ROUTES = (("specialist", "Specialist", 3), ("escalated", "Escalated", 2), ("llm", "LLM", 0), ("shadow", "Shadow", 5))
HOURLY_UP_TO = timedelta(days=2)


@require_GET
@project_page("view")
def home(request: ProjectRequest) -> HttpResponse:
    """The offload page once the project has a deployment (stopped ones count: its history is there),
    else the dashboard."""
    if deployment_list(project=request.project).exists():
        return redirect("monitoring:offload", slug=request.project.slug)
    return calls_views.dashboard(request, slug=request.project.slug)


def _buckets(data: Offload) -> list[tuple[datetime, Counts]]:
    """Every hour or day of the period (in TIME_ZONE), zero where no call was made, so time runs evenly."""
    hourly = data.bucket == "hour"
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    start = timezone.localtime(data.period.since).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    if not hourly:
        start = start.replace(hour=0)
    end = timezone.localtime(data.period.until).replace(tzinfo=None)
    found = {bucket.at: bucket.counts for bucket in data.over_time}
    keys = []
    while start < end:
        keys.append(start)
        start += step
    return [(key, found.get(key, Counts())) for key in keys]


def _label(at: datetime, hourly: bool) -> str:
    return f"{at:%H}:00" if hourly else f"{at:%b} {at.day}"


def _routes_chart(buckets: list[tuple[datetime, Counts]], hourly: bool) -> SafeString:
    unit = "hour" if hourly else "day"
    series = [
        Series(label, [getattr(counts, f"{route}_calls") for _, counts in buckets], colour)
        for route, label, colour in ROUTES
    ]
    labels = [_label(at, hourly) for at, _ in buckets]
    return stacked_area(labels, series, title=f"Gateway calls per {unit} by route", y_label=f"calls / {unit}")


def _agreement_chart(buckets: list[tuple[datetime, Counts]], hourly: bool) -> SafeString | None:
    """Shadow calls' agreement per hour or day, its 95% interval in the tooltip; None with no shadow calls."""
    if not any(counts.shadow_judged for _, counts in buckets):
        return None
    bars = []
    for at, counts in buckets:
        interval = counts.agreement
        tip = (
            f"{_label(at, hourly)}: {interval.estimate:.1%} agreement (95% interval {interval.low:.1%} to "
            f"{interval.high:.1%}) on {counts.shadow_judged:,} shadow calls"
            if interval
            else f"{_label(at, hourly)}: no shadow calls judged"
        )
        bars.append(Bar(label=_label(at, hourly), value=interval.estimate * 100 if interval else 0, tooltip=tip))
    return column_chart(
        bars, title="Agreement with the LLM", y_label="agreement", fmt=lambda v: f"{v:.0f}%", height=200
    )


@require_GET
@project_page("view")
def offload(request: ProjectRequest) -> HttpResponse:
    form = PeriodForm(request.GET)
    if form.is_valid():
        status, (choice, period) = 200, form.chosen()
    else:
        status, choice, period = 400, DEFAULT, recent(DEFAULT)
    context: dict[str, Any] = {"form": form, "choice": choice, "choices": PERIOD_CHOICES, "period": period}
    if not selectors.gateway_traffic_exists(project=request.project):
        return render_page(request, "monitoring/offload.html", context, fragment="offload-body", status=status)
    hourly = period.until - period.since <= HOURLY_UP_TO
    data = selectors.offload_get(project=request.project, period=period, bucket="hour" if hourly else "day")
    buckets = _buckets(data)
    context |= {
        "data": data,
        "buckets": buckets,
        "hourly": hourly,
        "routes_chart": _routes_chart(buckets, hourly) if data.totals.calls else None,
        "agreement_chart": _agreement_chart(buckets, hourly),
    }
    return render_page(request, "monitoring/offload.html", context, fragment="offload-body", status=status)
