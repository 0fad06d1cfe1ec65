"""Reads for task discovery: runs, tasks with their live statistics, drift and the map."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from apps.calls.models import Call
from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.discovery.describe import Suitability, suitability
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster
from apps.projects.models import Project

SPARK_DAYS = 30


def discovery_run_list(*, project: Project) -> QuerySet[DiscoveryRun]:
    return DiscoveryRun.objects.filter(project=project).select_related("target").defer("map_points")


def discovery_run_get(*, project: Project, run_id: Any) -> DiscoveryRun:
    uid = as_uuid(run_id)
    run = DiscoveryRun.objects.filter(project=project, id=uid).first() if uid else None
    if run is None:
        raise NotFound("No such discovery run in this project")
    return run


def discovery_run_active(*, project: Project) -> DiscoveryRun | None:
    return DiscoveryRun.objects.filter(project=project, status__in=("queued", "running")).first()


def task_cluster_list(*, project: Project, statuses: tuple[str, ...] = (ClusterStatus.ACTIVE,)) -> list[TaskCluster]:
    return list(TaskCluster.objects.filter(project=project, status__in=statuses).order_by("number"))


def task_cluster_get(*, project: Project, cluster_id: Any) -> TaskCluster:
    uid = as_uuid(cluster_id)
    cluster = TaskCluster.objects.filter(project=project, id=uid).first() if uid else None
    if cluster is None:
        raise NotFound("No such task in this project")
    return cluster


@dataclass
class ClusterStats:
    calls: int = 0
    share: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    prompt_p99: float | None = None
    agents: list[str] = field(default_factory=list)
    per_day: list[tuple[date, int]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def cluster_stats(*, project: Project, cluster_ids: list[UUID] | None = None) -> dict[UUID, ClusterStats]:
    """Per task: calls, share of all the project's calls, tokens, cost at the LLM's prices, latency,
    prompt length (p99), agents, and calls per day over the last 30 days (for the sparkline)."""
    total = Call.objects.filter(project=project).count() or 1
    where = "project_id = %s AND task_cluster_id IS NOT NULL"
    params: list[Any] = [project.id]
    if cluster_ids is not None:
        if not cluster_ids:
            return {}
        where += " AND task_cluster_id = ANY(%s)"
        params.append(cluster_ids)
    stats: dict[UUID, ClusterStats] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_cluster_id, count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
            " coalesce(sum(cost), 0), percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY prompt_tokens),"
            " (array_agg(DISTINCT agent) FILTER (WHERE agent <> ''))[1:10]"
            f" FROM calls_call WHERE {where} GROUP BY task_cluster_id",
            params,
        )
        for cid, n, pt, ct, cost, p50, p95, p99, agents in cursor.fetchall():
            stats[cid] = ClusterStats(n, n / total, int(pt), int(ct), float(cost), p50, p95, p99, agents or [])
        today = timezone.localdate()
        first = today - timedelta(days=SPARK_DAYS - 1)
        cursor.execute(
            "SELECT task_cluster_id, (timestamp AT TIME ZONE 'UTC')::date AS day, count(*)"
            f" FROM calls_call WHERE {where} AND timestamp >= %s GROUP BY 1, 2",
            [*params, datetime.combine(first, datetime.min.time(), tzinfo=timezone.get_current_timezone())],
        )
        daily: dict[UUID, dict[date, int]] = defaultdict(dict)
        for cid, day, n in cursor.fetchall():
            daily[cid][day] = n
    for cid, s in stats.items():
        s.per_day = [
            (first + timedelta(days=i), daily[cid].get(first + timedelta(days=i), 0)) for i in range(SPARK_DAYS)
        ]
    return stats


def cluster_suitability(*, cluster: TaskCluster, stats: ClusterStats | None) -> Suitability:
    s = stats or ClusterStats()
    return suitability(output_kind=cluster.output_kind, calls=s.calls, share=s.share, prompt_p99=s.prompt_p99)


@dataclass
class Drift:
    since: datetime | None  # the last discovery run
    arrived: int  # calls assigned since then, one by one as they came
    unassigned: int  # of those, calls that fit no task
    waiting: int  # calls not looked at yet

    @property
    def share(self) -> float:
        return self.unassigned / self.arrived if self.arrived else 0.0


def drift_get(*, project: Project) -> Drift:
    last = (
        DiscoveryRun.objects.filter(project=project, kind=RunKind.FULL, status="succeeded")
        .order_by("-finished_at")
        .first()
    )
    calls = Call.objects.filter(project=project, curation_version__gt=0)
    waiting = calls.filter(cluster_assigned_at=None).count() if last else 0
    if last is None or last.finished_at is None:
        return Drift(None, 0, 0, waiting)
    after = calls.filter(cluster_assigned_at__gt=last.finished_at)
    return Drift(last.finished_at, after.count(), after.filter(task_cluster=None).count(), waiting)


@dataclass
class MapPoint:
    x: float
    y: float
    cluster: TaskCluster | None
    call_id: str


def cluster_map_get(*, project: Project) -> tuple[DiscoveryRun | None, list[MapPoint]]:
    """The newest run's map, each call coloured by the task it is in now (after merges and splits)."""
    run = (
        DiscoveryRun.objects.filter(project=project, kind=RunKind.FULL, status="succeeded")
        .order_by("-finished_at")
        .first()
    )
    if run is None:
        return None, []
    clusters = {c.id: c for c in TaskCluster.objects.filter(project=project)}
    now_in = dict(
        Call.objects.filter(project=project, id__in=[p[3] for p in run.map_points]).values_list("id", "task_cluster_id")
    )
    points = []
    for x, y, _, call_id in run.map_points:
        uid = as_uuid(call_id)
        if uid in now_in:
            cid = now_in[uid]
            points.append(MapPoint(x, y, clusters.get(cid) if cid else None, call_id))
    return run, points
