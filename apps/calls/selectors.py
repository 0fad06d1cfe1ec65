import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from apps.calls.models import ROUTE_KEY, Call, CallRoute, ImportJob
from apps.common.errors import DomainError, NotFound
from apps.common.ids import as_uuid
from apps.projects.models import Project

LIST_COLUMNS = (
    "id",
    "client_id",
    "agent",
    "workload",
    "model",
    "timestamp",
    "received_at",
    "finish_reason",
    "status",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "trace_id",
    "preview",
    "trainable",
    "exclusion_reason",
    "duplicate_of",
    "pii_counts",
    "task_cluster",
    "cluster_confidence",
)


@dataclass
class CallFilters:
    agent: str = ""
    model: str = ""
    workload: str = ""
    since: datetime | None = None
    until: datetime | None = None
    status: str = ""
    training: str = ""  # "yes", "no", or one exclusion reason
    cluster: str = ""  # a task cluster's id, or "none" for calls in no task
    route: str = ""  # the gateway's route (CallRoute), or "none" for calls not through the gateway


@dataclass
class CallPage:
    items: list[Call]
    next_cursor: str | None


def _encode_cursor(call: Call) -> str:
    return base64.urlsafe_b64encode(f"{call.timestamp.isoformat()}|{call.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        stamp, call_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        uid = as_uuid(call_id)
        if uid is None:
            raise ValueError(call_id)
        return datetime.fromisoformat(stamp), uid
    except (ValueError, UnicodeDecodeError) as exc:
        raise DomainError("The cursor is not one this API gave out", field="cursor") from exc


def call_queryset(*, project: Project, filters: CallFilters) -> QuerySet[Call]:
    qs = Call.objects.filter(project=project)
    if filters.agent:
        qs = qs.filter(agent=filters.agent)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.workload:
        qs = qs.filter(workload=filters.workload)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.training == "yes":
        qs = qs.filter(trainable=True)
    elif filters.training == "no":
        qs = qs.filter(trainable=False)
    elif filters.training:
        qs = qs.filter(trainable=False, exclusion_reason=filters.training)
    if filters.cluster == "none":
        qs = qs.filter(task_cluster=None)
    elif filters.cluster:
        cluster_id = as_uuid(filters.cluster)
        if cluster_id is None:
            raise DomainError("Give a task id, or 'none' for calls in no task", field="cluster")
        qs = qs.filter(task_cluster_id=cluster_id)
    if filters.route == "none":
        qs = qs.exclude(metadata__has_key=ROUTE_KEY)
    elif filters.route:
        if filters.route not in CallRoute.values:
            raise DomainError(f"The route is one of {', '.join(CallRoute.values)}, or 'none'", field="route")
        # has_key as well, so the partial index call_project_route_time serves it.
        qs = qs.filter(metadata__has_key=ROUTE_KEY).alias(route_filter=KeyTextTransform(ROUTE_KEY, "metadata"))
        qs = qs.filter(route_filter=filters.route)
    if filters.since:
        qs = qs.filter(timestamp__gte=filters.since)
    if filters.until:
        qs = qs.filter(timestamp__lt=filters.until)
    return qs


def call_list(*, project: Project, filters: CallFilters, cursor: str | None = None, limit: int = 50) -> CallPage:
    """Newest first, keyset-paginated on (timestamp, id) so pages stay fast and stable as calls arrive."""
    # The task's code and name, and the gateway's route (Call.route), come in the same query (the call log
    # shows them) without loading the metadata.
    qs = (
        call_queryset(project=project, filters=filters)
        .select_related("task_cluster")
        .only(*LIST_COLUMNS, "task_cluster__number", "task_cluster__name")
        .annotate(gateway_route=KeyTextTransform(ROUTE_KEY, "metadata"))
    )
    if cursor:
        stamp, call_id = _decode_cursor(cursor)
        qs = qs.filter(Q(timestamp__lt=stamp) | Q(timestamp=stamp, id__lt=call_id))
    items: list[Call] = list(qs.order_by("-timestamp", "-id")[: limit + 1])
    next_cursor = _encode_cursor(items[limit - 1]) if len(items) > limit else None
    return CallPage(items=items[:limit], next_cursor=next_cursor)


def call_get(*, project: Project, call_id: Any) -> Call:
    uid = as_uuid(call_id)
    call = Call.objects.filter(project=project, id=uid).first() if uid else None
    if call is None:
        raise NotFound("No such call in this project")
    return call


def call_facets(*, project: Project) -> dict[str, list[str]]:
    """The agents, models and workloads seen in a project, for filter menus."""
    base = Call.objects.filter(project=project)
    return {
        name: list(base.exclude(**{name: ""}).values_list(name, flat=True).distinct().order_by(name)[:200])
        for name in ("agent", "model", "workload")
    }


@dataclass
class Dashboard:
    total_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    error_calls: int
    avg_latency_ms: float | None
    first: datetime | None
    last: datetime | None
    over_time: list[dict[str, Any]]
    bucket: str
    by_agent: list[dict[str, Any]]
    by_model: list[dict[str, Any]]


def dashboard_get(*, project: Project, days: int = 14) -> Dashboard:
    base = Call.objects.filter(project=project)
    totals = base.aggregate(
        n=Count("id"),
        pt=Sum("prompt_tokens"),
        ct=Sum("completion_tokens"),
        cost=Sum("cost"),
        errors=Count("id", filter=Q(status="error")),
        latency=Avg("latency_ms"),
    )
    last = base.order_by("-timestamp").values_list("timestamp", flat=True).first()
    first = base.order_by("timestamp").values_list("timestamp", flat=True).first()
    end = last or timezone.now()
    start = end - timedelta(days=days) if end.year > 1 else end  # a call stored at year 1 has nothing before it
    hourly = first is not None and end - max(first, start) <= timedelta(days=2)
    trunc = TruncHour("timestamp") if hourly else TruncDay("timestamp")
    rows = (
        base.filter(timestamp__gte=start)
        .annotate(bucket=trunc)
        .values("bucket")
        .annotate(calls=Count("id"), cost=Sum("cost"), errors=Count("id", filter=Q(status="error")))
        .order_by("bucket")
    )
    over_time = [
        {"bucket": r["bucket"], "calls": r["calls"], "cost": float(r["cost"] or 0), "errors": r["errors"]} for r in rows
    ]

    def breakdown(name: str) -> list[dict[str, Any]]:
        grouped = (
            base.values(name)
            .annotate(calls=Count("id"), tokens=Sum("prompt_tokens") + Sum("completion_tokens"), cost=Sum("cost"))
            .order_by("-calls")[:10]
        )
        return [
            {
                "name": g[name] or "(not set)",
                "calls": g["calls"],
                "tokens": g["tokens"] or 0,
                "cost": float(g["cost"] or 0),
            }
            for g in grouped
        ]

    return Dashboard(
        total_calls=totals["n"],
        prompt_tokens=totals["pt"] or 0,
        completion_tokens=totals["ct"] or 0,
        cost=float(totals["cost"] or 0),
        error_calls=totals["errors"],
        avg_latency_ms=totals["latency"],
        first=first,
        last=last,
        over_time=over_time,
        bucket="hour" if hourly else "day",
        by_agent=breakdown("agent"),
        by_model=breakdown("model"),
    )


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).select_related("created_by")[:20]


def import_job_get(*, project: Project, job_id: Any) -> ImportJob:
    uid = as_uuid(job_id)
    job = ImportJob.objects.filter(project=project, id=uid).first() if uid else None
    if job is None:
        raise NotFound("No such upload in this project")
    return job


def call_count_by_project(*, project_ids: list[Any]) -> dict[Any, int]:
    """How many calls each project holds, keyed by project id (projects without calls are absent)."""
    rows = Call.objects.filter(project_id__in=project_ids).values("project_id").annotate(n=Count("id"))
    return {row["project_id"]: row["n"] for row in rows}


def call_previews(*, project: Project, call_ids: list[str]) -> dict[str, str]:
    """The preview (last user turn, shortened) of each call, by id, in one query."""
    rows = Call.objects.filter(project=project, id__in=call_ids).values_list("id", "preview")
    return {str(call_id): preview for call_id, preview in rows}
