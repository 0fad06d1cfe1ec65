"""Task discovery pages: the task list with its run panel, the cluster map, one task (name it, merge,
split, keep it on the LLM), and the discovery runs."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.calls import selectors as call_selectors
from apps.common import errors
from apps.common.charts import Point, scatter, sparkline
from apps.common.pages import render_page, wants_fragment
from apps.discovery import selectors, services
from apps.discovery.forms import FindTasksForm, KeepOnLlmForm, TaskEditForm, TaskMergeForm
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster
from apps.discovery.selectors import ClusterStats
from apps.discovery.texts import OUTPUT_KIND_LABELS
from apps.projects.forms import add_domain_error
from apps.projects.pages import ProjectRequest, project_page, require_ability

PALETTE_SIZE = 20  # task colours on the map (chart-series-0..19, swatch-0..19)
RUN_HISTORY = 50
STAGES = ("reading", "clustering", "describing")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _traffic(stats: ClusterStats, **size: int) -> SafeString:
    days = stats.per_day
    counts = [n for _, n in days]
    total = sum(counts)
    if total and days:
        peak_day, peak = max(days, key=lambda d: d[1])
        title = f"{_count(total, 'call')} in the last {len(days)} days; most on {peak_day:%b} {peak_day.day} ({peak:,})"
    else:
        title = f"No calls in the last {len(days)} days"
    return sparkline(counts, title=title, **size)


def _kind_label(cluster: TaskCluster) -> str:
    return OUTPUT_KIND_LABELS.get(cluster.output_kind, cluster.output_kind or "Not known yet")


# --- the task list ------------------------------------------------------------------------------------


def _task_rows(clusters: list[TaskCluster]) -> list[dict[str, Any]]:
    stats = selectors.cluster_stats_of(clusters=clusters)
    rows: list[dict[str, Any]] = [
        {
            "cluster": cluster,
            "stats": stats[cluster.id],
            "kind": _kind_label(cluster),
            "suitability": selectors.cluster_suitability(cluster=cluster, stats=stats[cluster.id]),
            "traffic": _traffic(stats[cluster.id]),
        }
        for cluster in clusters
    ]
    rows.sort(key=lambda row: (-row["stats"].calls, row["cluster"].number))
    return rows


def _task_list_page(request: ProjectRequest, form: FindTasksForm, *, status: int = 200) -> HttpResponse:
    """The page, or (htmx, polled every 2 s during a run) the run panel alone. The panel computes only
    what it shows: a running run's progress, else the tasks' totals from their stored statistics and
    the drift line. Per-task statistics are read, never computed, and only for the table."""
    project = request.project
    fragment = wants_fragment(request)
    active_run = selectors.discovery_run_active(project=project)
    context: dict[str, Any] = {
        "active_run": active_run,
        "form": form,
        "options_open": bool(form.errors) and any(form.data.get(name) for name in form.fields),
    }
    ended = fragment and request.GET.get("watching") and active_run is None
    if ended:
        # The run this panel was following has ended: reload the whole page to show what it found.
        response = HttpResponse(status=status)
        response["HX-Refresh"] = "true"
        return response
    if active_run is None or not fragment:
        clusters = selectors.task_cluster_list(project=project)
        rows = _task_rows(clusters) if not fragment else []
        totals = (
            [row["stats"] for row in rows] if rows else list(selectors.cluster_stats_of(clusters=clusters).values())
        )
        context |= {
            "rows": rows,
            "task_count": len(clusters),
            "assigned": sum(s.calls for s in totals),
            "share": sum(s.share for s in totals),
        }
        if active_run is None:
            context |= {
                "last_run": selectors.discovery_run_list(project=project).first(),
                "drift": selectors.drift_get(project=project),
            }
    return render_page(request, "discovery/task_list.html", context, fragment="run-panel", status=status)


@require_GET
@project_page("view")
def task_list(request: ProjectRequest) -> HttpResponse:
    return _task_list_page(request, FindTasksForm())


@require_POST
@project_page("manage_tasks")
def run_start(request: ProjectRequest) -> HttpResponse:
    form = FindTasksForm(request.POST)
    status = 400
    if form.is_valid():
        since, until = form.window()
        try:
            run = services.discovery_run_create(
                project=request.project,
                created_by=request.user,
                since=since,
                until=until,
                min_cluster_size=form.cleaned_data["min_cluster_size"],
            )
        except errors.DomainError as exc:
            add_domain_error(form, exc)
            status = exc.status
        else:
            return redirect("discovery:run", slug=request.project.slug, run_id=run.id)
    return _task_list_page(request, form, status=status)


# --- the cluster map ----------------------------------------------------------------------------------


@require_GET
@project_page("view")
def cluster_map(request: ProjectRequest) -> HttpResponse:
    project = request.project
    run, points = selectors.cluster_map_get(project=project)
    shown = sorted({p.cluster.id: p.cluster for p in points if p.cluster}.values(), key=lambda c: c.number)
    series = {c.id: i % PALETTE_SIZE for i, c in enumerate(shown)}
    on_map: dict[UUID | None, int] = {}
    for p in points:
        key = p.cluster.id if p.cluster else None
        on_map[key] = on_map.get(key, 0) + 1
    previews = call_selectors.call_previews(project=project, call_ids=[p.call_id for p in points])
    placeholder = "00000000-0000-0000-0000-000000000000"
    call_url = reverse("calls:detail", kwargs={"slug": project.slug, "call_id": placeholder})
    dots = []
    for p in points:
        task = f"{p.cluster.code} {p.cluster.name}" if p.cluster else "No task"
        preview = previews.get(p.call_id) or "(no user message)"
        dots.append(
            Point(
                x=p.x,
                y=p.y,
                series=series[p.cluster.id] if p.cluster else None,
                tooltip=f"{task}\n{preview[:160]}",
                href=call_url.replace(placeholder, p.call_id),
            )
        )
    title = f"Map of {_count(len(points), 'call')}, coloured by task"
    chart = scatter(dots, title=title, labels={series[c.id]: c.code for c in shown}) if points else None
    legend = [{"cluster": c, "series": series[c.id], "calls": on_map.get(c.id, 0)} for c in shown]
    context = {"run": run, "chart": chart, "legend": legend, "points": len(points), "unassigned": on_map.get(None, 0)}
    return render_page(request, "discovery/cluster_map.html", context, fragment="map")


# --- one task -----------------------------------------------------------------------------------------


def _task_page(
    request: ProjectRequest,
    cluster: TaskCluster,
    *,
    fragment: str,
    status: int = 200,
    edit_form: TaskEditForm | None = None,
    merge_form: TaskMergeForm | None = None,
    split_error: str = "",
    notice: str = "",
) -> HttpResponse:
    project = request.project
    everyone = {c.id: c for c in selectors.task_cluster_list(project=project, statuses=tuple(ClusterStatus.values))}
    others = [c for c in everyone.values() if c.status == ClusterStatus.ACTIVE and c.id != cluster.id]
    stats = selectors.cluster_stats_of(clusters=[cluster])[cluster.id]
    previews = call_selectors.call_previews(project=project, call_ids=cluster.representatives)
    calls_url = reverse("calls:list", kwargs={"slug": project.slug})
    context = {
        "cluster": cluster,
        "stats": stats,
        "kind": _kind_label(cluster),
        "suitability": selectors.cluster_suitability(cluster=cluster, stats=stats),
        "traffic": _traffic(stats, width=640, height=96),
        "representatives": [(call_id, previews[call_id]) for call_id in cluster.representatives if call_id in previews],
        "merged_into": everyone.get(cluster.merged_into_id) if cluster.merged_into_id else None,
        "parent": everyone.get(cluster.parent_id) if cluster.parent_id else None,
        "children": sorted((c for c in everyone.values() if c.parent_id == cluster.id), key=lambda c: c.number),
        "split_runs": list(selectors.discovery_run_list(project=project).filter(target=cluster)[:5]),
        # The call log filters by task once its form knows the field.
        "calls_url": f"{calls_url}?cluster={cluster.id}",
        "editing": edit_form is not None,
        "edit_form": edit_form,
        "merge_form": merge_form or TaskMergeForm(others=others),
        "split_error": split_error,
        "notice": notice,
        "is_active": cluster.status == ClusterStatus.ACTIVE,
    }
    return render_page(request, "discovery/task_detail.html", context, fragment=fragment, status=status)


@require_http_methods(["GET", "POST"])
@project_page("view")
def task_detail(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    """The task; GET ?edit=1 opens the name and description form, POST saves it."""
    cluster = selectors.task_cluster_get(project=request.project, cluster_id=cluster_id)
    if request.method == "GET":
        edit_form = None
        if request.GET.get("edit") and request.membership.can("manage_tasks"):
            edit_form = TaskEditForm(initial={"name": cluster.name, "description": cluster.description})
        return _task_page(request, cluster, fragment="task-head", edit_form=edit_form)
    require_ability(request, "manage_tasks")
    form = TaskEditForm(request.POST)
    if not form.is_valid():
        return _task_page(request, cluster, fragment="task-head", edit_form=form, status=400)
    try:
        services.task_cluster_update(
            cluster=cluster, name=form.cleaned_data["name"], description=form.cleaned_data["description"]
        )
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _task_page(request, cluster, fragment="task-head", edit_form=form, status=exc.status)
    if wants_fragment(request):
        return _task_page(request, cluster, fragment="task-head", notice="Saved.")
    messages.success(request, f"{cluster.code} saved.")
    return redirect("discovery:task", slug=request.project.slug, cluster_id=cluster.id)


@require_POST
@project_page("manage_tasks")
def task_merge(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    cluster = selectors.task_cluster_get(project=request.project, cluster_id=cluster_id)
    others = [c for c in selectors.task_cluster_list(project=request.project) if c.id != cluster.id]
    form = TaskMergeForm(request.POST, others=others)
    if not form.is_valid():
        return _task_page(request, cluster, fragment="merge-panel", merge_form=form, status=400)
    into = selectors.task_cluster_get(project=request.project, cluster_id=form.cleaned_data["into"])
    try:
        services.task_cluster_merge(cluster=cluster, into=into)
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _task_page(request, cluster, fragment="merge-panel", merge_form=form, status=exc.status)
    messages.success(request, f"{cluster.code} {cluster.name} was merged into {into.code}: its calls are in it now.")
    return redirect("discovery:task", slug=request.project.slug, cluster_id=into.id)


@require_POST
@project_page("manage_tasks")
def task_split(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    cluster = selectors.task_cluster_get(project=request.project, cluster_id=cluster_id)
    try:
        run = services.task_cluster_split(cluster=cluster, created_by=request.user)
    except errors.DomainError as exc:
        return _task_page(request, cluster, fragment="split-panel", split_error=exc.message, status=exc.status)
    return redirect("discovery:run", slug=request.project.slug, run_id=run.id)


@require_POST
@project_page("manage_tasks")
def task_keep(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    cluster = selectors.task_cluster_get(project=request.project, cluster_id=cluster_id)
    form = KeepOnLlmForm(request.POST)
    if not form.is_valid():
        return _task_page(request, cluster, fragment="keep-panel", status=400, notice=str(form.errors["keep"][0]))
    keep = form.cleaned_data["keep"]
    services.task_cluster_update(cluster=cluster, keep_on_llm=keep)
    notice = "Kept on the LLM." if keep else "A candidate for a small model again."
    if wants_fragment(request):
        return _task_page(request, cluster, fragment="keep-panel", notice=notice)
    messages.success(request, f"{cluster.code}: {notice}")
    return redirect("discovery:task", slug=request.project.slug, cluster_id=cluster.id)


# --- runs ---------------------------------------------------------------------------------------------


def _seconds(run: DiscoveryRun) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


@require_GET
@project_page("view")
def run_list(request: ProjectRequest) -> HttpResponse:
    runs = list(selectors.discovery_run_list(project=request.project).select_related("created_by")[:RUN_HISTORY])
    rows = [
        {
            "run": run,
            "new": len(run.changes.get("new", [])),
            "retired": len(run.changes.get("retired", [])),
            "duration_ms": (s * 1000 if (s := _seconds(run)) is not None else None),
        }
        for run in runs
    ]
    context = {"rows": rows, "any_running": any(not run.is_terminal for run in runs)}
    return render_page(request, "discovery/run_list.html", context, fragment="runs-table")


def _run_context(run: DiscoveryRun) -> dict[str, Any]:
    timings = [(stage, run.timings[stage]) for stage in STAGES if stage in run.timings]
    timings += [(stage, s) for stage, s in run.timings.items() if stage not in STAGES]
    longest = max((s for _, s in timings), default=0) or 1
    changes = run.changes or {}
    return {
        "run": run,
        "is_split": run.kind == RunKind.SPLIT,
        "timings": [(stage, s, round(100 * s / longest)) for stage, s in timings],
        "total_seconds": sum(s for _, s in timings),
        "new": changes.get("new", []),
        "kept": changes.get("kept", []),
        "retired": changes.get("retired", []),
        "moved_calls": changes.get("moved_calls"),
        "split_parent": changes.get("parent"),
        "split_found_none": changes.get("split") is False,
    }


@require_GET
@project_page("view")
def run_detail(request: ProjectRequest, run_id: UUID) -> HttpResponse:
    run = selectors.discovery_run_get(project=request.project, run_id=run_id)
    return render_page(request, "discovery/run_detail.html", _run_context(run), fragment="run-status")


@require_POST
@project_page("manage_tasks")
def run_cancel(request: ProjectRequest, run_id: UUID) -> HttpResponse:
    run = selectors.discovery_run_get(project=request.project, run_id=run_id)
    if not run.is_terminal:
        run = services.discovery_run_cancel(run=run)
    if wants_fragment(request):
        return render_page(request, "discovery/run_detail.html", _run_context(run), fragment="run-status")
    return redirect("discovery:run", slug=request.project.slug, run_id=run.id)
