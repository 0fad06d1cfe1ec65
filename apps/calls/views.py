"""Project pages about calls: the dashboard, the call log, one call, and JSONL uploads."""

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.calls import selectors, services
from apps.calls.forms import DASHBOARD_DAYS, CallFilterForm, DashboardForm, UploadForm
from apps.calls.models import Call, CallRoute
from apps.calls.schemas import CallOut
from apps.common import errors
from apps.common.charts import Bar, bar_list_chart, column_chart
from apps.common.ids import as_uuid
from apps.common.pages import render_page, wants_fragment
from apps.common.templatetags.ui import compact, usd
from apps.discovery.selectors import task_cluster_get, task_cluster_list
from apps.projects.forms import add_domain_error
from apps.projects.pages import ProjectRequest, project_page

# --- dashboard --------------------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _calls_url(request: ProjectRequest, **params: Any) -> str:
    url = reverse("calls:list", kwargs={"slug": request.project.slug})
    return f"{url}?{urlencode(params)}" if params else url


def _over_time_chart(request: ProjectRequest, data: selectors.Dashboard) -> SafeString | None:
    """Calls per hour or day, gaps filled with zero so the time axis is even; errors drawn in red."""
    if not data.over_time:
        return None
    hourly = data.bucket == "hour"
    by_key: dict[Any, dict[str, Any]] = {}
    for row in data.over_time:
        local = timezone.localtime(row["bucket"])
        by_key[local.replace(minute=0, second=0, microsecond=0) if hourly else local.date()] = row
    first, last = min(by_key), max(by_key)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    keys: list[Any] = []
    key = first
    keys.append(key)
    while key < last:  # never past `last`: a bucket at the end of time (9999-12-31) has no next one
        key = key + step
        keys.append(key)
    bars = []
    for key in keys:
        row = by_key.get(key, {"calls": 0, "errors": 0, "cost": 0.0})
        day = key.date() if isinstance(key, datetime) else key
        when = f"{key:%b} {key.day}, {key:%H}:00" if hourly else f"{key:%a %b} {key.day}"
        bars.append(
            Bar(
                label=f"{key:%H}:00" if hourly else f"{key:%b} {key.day}",
                value=row["calls"],
                highlight=row["errors"],
                tooltip=f"{when}: {_count(row['calls'], 'call')}, {_count(row['errors'], 'error')}, {usd(row['cost'])}",
                href=_calls_url(request, since=day.isoformat(), until=day.isoformat()),
            )
        )
    unit = "hour" if hourly else "day"
    return column_chart(bars, title=f"Calls per {unit}", y_label=f"calls / {unit}")


def _breakdown_chart(request: ProjectRequest, rows: list[dict[str, Any]], field: str) -> SafeString:
    bars = [
        Bar(
            label=row["name"],
            value=row["calls"],
            tooltip=f"{row['name']}: {_count(row['calls'], 'call')}, "
            f"{compact(row['tokens'])} tokens, {usd(row['cost'])}",
            href=_calls_url(request, **{field: row["name"]}) if row["name"] != "(not set)" else "",
        )
        for row in rows
    ]
    return bar_list_chart(bars, title=f"Calls by {field}")


@require_GET
@project_page("view")
def dashboard(request: ProjectRequest) -> HttpResponse:
    form = DashboardForm(request.GET)
    days, status, error = 14, 200, ""
    if form.is_valid():
        days = form.cleaned_data["days"]
    else:
        status, error = 400, " ".join(str(message) for message in form.errors.get("days", []))
    data = selectors.dashboard_get(project=request.project, days=days)
    context = {
        "data": data,
        "days": days,
        "day_choices": DASHBOARD_DAYS,
        "error": error,
        "error_rate": data.error_calls / data.total_calls if data.total_calls else None,
        "over_time_chart": _over_time_chart(request, data),
        "agent_chart": _breakdown_chart(request, data.by_agent, "agent"),
        "model_chart": _breakdown_chart(request, data.by_model, "model"),
        "api_url": request.build_absolute_uri(reverse("api:create_calls")),
    }
    return render_page(request, "calls/dashboard.html", context, fragment="dashboard-body", status=status)


# --- the call log -----------------------------------------------------------------------------------


def _with_current(options: list[str], current: str) -> list[str]:
    """A shared link may filter on a value that is not among the recent facets; keep it selectable."""
    return options if not current or current in options else [current, *options]


@require_GET
@project_page("view")
def call_list(request: ProjectRequest) -> HttpResponse:
    form = CallFilterForm(request.GET)
    page: selectors.CallPage | None = None
    error, status = "", 200
    if form.is_valid():
        try:
            page = selectors.call_list(
                project=request.project, filters=form.filters(), cursor=form.cleaned_data["cursor"] or None
            )
        except errors.DomainError:
            error = "That “Load more” link is not valid any more; start again from the newest calls."
            status = 400
    else:
        error = " ".join(str(message) for field_errors in form.errors.values() for message in field_errors)
        status = 400
    facets = selectors.call_facets(project=request.project)
    names = ("agent", "model", "workload", "status", "training", "cluster", "route", "since", "until")
    values = {name: form.data.get(name, "") for name in names}
    context = {
        "form": form,
        "values": values,
        "page": page,
        "error": error,
        "is_later_page": bool(form.data.get("cursor")),
        "agents": _with_current(facets["agent"], values["agent"]),
        "models": _with_current(facets["model"], values["model"]),
        "workloads": _with_current(facets["workload"], values["workload"]),
        "statuses": [("ok", "OK"), ("error", "Error")],
        "training_choices": CallFilterForm.base_fields["training"].choices[1:],  # type: ignore[attr-defined]
        "route_choices": CallFilterForm.base_fields["route"].choices[1:],  # type: ignore[attr-defined]
        "tasks": [(str(t.id), f"{t.code} {t.name}") for t in task_cluster_list(project=request.project)],
    }
    context["load_more_request"] = wants_fragment(request) and request.htmx.target == "load-more"
    fragment = "rows" if context["load_more_request"] else "results"
    return render_page(request, "calls/list.html", context, fragment=fragment, status=status)


def _gateway(request: ProjectRequest, call: Call) -> dict[str, Any] | None:
    """What the gateway recorded of a call it served: the route, the task, and for an escalated or shadow
    call the specialist's answer with the escalation reason or the shadow agreement."""
    if not call.route:
        return None
    metadata = call.metadata
    task = None
    if as_uuid(metadata.get("downshift_task")) is not None:
        try:
            task = task_cluster_get(project=request.project, cluster_id=metadata["downshift_task"])
        except errors.NotFound:
            task = None
    answer = metadata.get("downshift_specialist_answer")
    shadow = metadata.get("downshift_shadow")
    return {
        "route": call.route,
        "label": call.get_route_display(),
        "task": task,
        "task_id": metadata.get("downshift_task") or "",
        "task_by": str(metadata.get("downshift_task_by") or ""),
        "beside": call.route in (CallRoute.ESCALATED, CallRoute.SHADOW),
        "specialist_answer": answer if isinstance(answer, dict) else None,
        "escalation": str(metadata.get("downshift_escalation") or ""),
        "shadow": shadow if isinstance(shadow, dict) else None,
    }


@require_GET
@project_page("view")
def call_detail(request: ProjectRequest, call_id: str) -> HttpResponse:
    """One call; a huge text shows a screenful and links to the raw JSON (see templatetags/chat.py)."""
    call = selectors.call_get(project=request.project, call_id=call_id)
    raw_url = reverse("calls:raw", kwargs={"slug": request.project.slug, "call_id": call.id})
    context = {"call": call, "raw_url": raw_url, "gateway": _gateway(request, call)}
    return render_page(request, "calls/detail.html", context, fragment="call-detail")


@require_GET
@project_page("view")
def call_raw(request: ProjectRequest, call_id: str) -> HttpResponse:
    """The stored call as JSON, in the API's shape (GET /api/v1/calls/{id}); `?download=1` saves it."""
    call = selectors.call_get(project=request.project, call_id=call_id)
    body = orjson.dumps(CallOut.from_orm(call).model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    response = HttpResponse(body, content_type="application/json")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="call-{call.id}.json"'
    return response


# --- uploads ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@project_page("upload")
def uploads(request: ProjectRequest) -> HttpResponse:
    status = 200
    if request.method == "GET":
        form = UploadForm()
    else:
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = services.import_job_create(
                    project=request.project, upload=upload, filename=upload.name or "", created_by=request.user
                )
            except errors.DomainError as exc:
                add_domain_error(form, exc)
                status = exc.status
            else:
                return redirect("calls:upload_detail", slug=request.project.slug, job_id=job.id)
        else:
            status = 413 if form.has_error("file", "too_large") else 400
    jobs = list(selectors.import_job_list(project=request.project))
    context = {"form": form, "jobs": jobs, "any_running": any(not job.is_terminal for job in jobs)}
    return render_page(request, "calls/uploads.html", context, fragment="recent-uploads", status=status)


@require_GET
@project_page("upload")
def upload_detail(request: ProjectRequest, job_id: str) -> HttpResponse:
    job = selectors.import_job_get(project=request.project, job_id=job_id)
    return render_page(request, "calls/upload_detail.html", {"job": job}, fragment="job-status")


@require_POST
@project_page("upload")
def upload_cancel(request: ProjectRequest, job_id: str) -> HttpResponse:
    job = selectors.import_job_get(project=request.project, job_id=job_id)
    if job.is_terminal:
        notice = "This upload had already finished; nothing to cancel."
    else:
        job = services.import_job_cancel(job=job)
        notice = "Cancelled." if job.is_terminal else "Cancelling: the import stops after the batch it is on."
    if wants_fragment(request):
        return render_page(request, "calls/upload_detail.html", {"job": job, "notice": notice}, fragment="job-status")
    messages.info(request, notice)
    return redirect("calls:upload_detail", slug=request.project.slug, job_id=job.id)
