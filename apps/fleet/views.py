"""The GPU workers page: the live list (polled every 5 s) and the admins' actions on one worker. Every
action is a plain POST that redirects back, so the page works without JavaScript; htmx swaps the panel."""

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.common import errors
from apps.common.pages import render_page, to_login, wants_fragment
from apps.fleet import selectors, services
from apps.fleet.selectors import WorkerRow, WorkerStatus
from apps.jobs.selectors import job_running_on
from apps.specialists import selectors as specialists

BADGES = {
    WorkerStatus.ONLINE: "ok",
    WorkerStatus.DRAINING: "excluded",
    WorkerStatus.STALE: "error",
    WorkerStatus.OFFLINE: "cancelled",
}

View = Callable[..., HttpResponse]


def workers_admin(view: View) -> View:
    """Anonymous -> login; anyone who may not manage workers (selectors.user_may_manage_workers) -> 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return to_login(request)
        if not selectors.user_may_manage_workers(user=request.user):
            raise Forbidden("GPU workers belong to the installation: only site administrators (staff) manage them")
        return view(request, *args, **kwargs)

    return wrapper


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "stopped"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _gpu(gpu: dict[str, Any]) -> dict[str, Any]:
    total = int(gpu.get("memory_total_mb") or 0)
    used = int(gpu.get("memory_used_mb") or 0)
    return {
        "index": gpu.get("index", 0),
        "name": gpu.get("name") or "GPU",
        "used_gb": used / 1024,
        "total_gb": total / 1024,
        "percent": min(100, round(100 * used / total)) if total else 0,
        "utilization": gpu.get("utilization"),
    }


def _row(row: WorkerRow, runs: dict[str, Any]) -> dict[str, Any]:
    run = runs.get(row.current_job)
    # Not a training run: an upload, re-scan, discovery run... is the worker's current job all the same.
    other = job_running_on(worker=row.worker.name) if run is None and row.status != WorkerStatus.OFFLINE else None
    return {
        "worker": row.worker,
        "status": row.status,
        "badge": BADGES[row.status],
        "age": _age(row.heartbeat_age_s),
        "stopped": row.stopped,
        "gpus": [_gpu(g) for g in row.worker.gpus if isinstance(g, dict)],
        "current_job": row.current_job,
        "run": run,
        "run_path": reverse("specialists:training_run", kwargs={"slug": run.project.slug, "run_id": run.id})
        if run
        else "",
        "live": row.status != WorkerStatus.OFFLINE,
        "other_label": other[0] if other else "",
        "other_job": other[1] if other else None,
    }


def _page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    workers = selectors.worker_list()
    runs = specialists.training_runs_by_ids(ids=[row.current_job for row in workers])
    rows = [_row(row, runs) for row in workers]
    context = {
        "rows": rows,
        "live": sum(1 for row in rows if row["live"]),
        "heartbeat_s": settings.JOB_HEARTBEAT_S,
        "stale_s": settings.JOB_STALE_S,
        "max_concurrency": services.MAX_CONCURRENCY,
        **extra,
    }
    return render_page(request, "fleet/worker_list.html", context, fragment="workers-panel", status=status)


@require_GET
@workers_admin
def worker_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _act(request: HttpRequest, action: Callable[[User], object], notice: str) -> HttpResponse:
    """Run one admin action; answer with the panel (htmx) or a redirect to the page (no JavaScript)."""
    try:
        action(cast(User, request.user))
    except errors.NotFound as exc:
        raise Http404(exc.message) from exc
    except errors.PermissionDenied as exc:
        raise Forbidden(exc.message) from exc
    except errors.DomainError as exc:
        if wants_fragment(request):
            return _page(request, status=exc.status, error=exc.message)
        messages.error(request, exc.message)
        return redirect("fleet:list")
    if wants_fragment(request):
        return _page(request, notice=notice)
    messages.success(request, notice)
    return redirect("fleet:list")


@require_POST
@workers_admin
def worker_drain(request: HttpRequest, name: str) -> HttpResponse:
    return _act(
        request,
        lambda user: services.worker_drain(name=name, by=user),
        f"{name} is draining: it finishes its current job and takes no new ones.",
    )


@require_POST
@workers_admin
def worker_resume(request: HttpRequest, name: str) -> HttpResponse:
    return _act(
        request, lambda user: services.worker_resume(name=name, by=user), f"{name} takes jobs from its queues again."
    )


@require_POST
@workers_admin
def worker_concurrency(request: HttpRequest, name: str) -> HttpResponse:
    raw = request.POST.get("concurrency", "").strip()
    concurrency = int(raw) if raw.isdigit() else 0
    return _act(
        request,
        lambda user: services.worker_concurrency_set(name=name, concurrency=concurrency, by=user),
        f"{name} runs {concurrency} job{'' if concurrency == 1 else 's'} at once from its next heartbeat "
        "(a solo pool keeps one until it is restarted with a prefork pool).",
    )


@require_POST
@workers_admin
def worker_job_cancel(request: HttpRequest, name: str) -> HttpResponse:
    return _act(
        request,
        lambda user: services.worker_job_cancel(name=name, by=user),
        f"Cancel requested: the training run on {name} stops at its next progress report.",
    )
