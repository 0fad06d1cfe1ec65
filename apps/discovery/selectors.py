"""Reads for task discovery: runs, tasks with their statistics (stored on them), drift and the map."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.calls.models import Call
from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.discovery.assignment import task_centres
from apps.discovery.describe import Suitability, suitability
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster
from apps.discovery.routing import Embed, NearestCentre, TaskRouter
from apps.discovery.stats import ClusterStats, cluster_stats_compute
from apps.projects.models import Project


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
    """The tasks with what pages and the API show of them (not their centres: 1,152 floats each)."""
    tasks = TaskCluster.objects.filter(project=project, status__in=statuses).defer("centroid", "centres")
    return list(tasks.order_by("number"))


def task_cluster_get(*, project: Project, cluster_id: Any) -> TaskCluster:
    uid = as_uuid(cluster_id)
    cluster = TaskCluster.objects.filter(project=project, id=uid).first() if uid else None
    if cluster is None:
        raise NotFound("No such task in this project")
    return cluster


def cluster_stats_of(*, clusters: list[TaskCluster]) -> dict[UUID, ClusterStats]:
    """The statistics stored on the tasks (no query); a task never refreshed yet is computed from its calls."""
    today = timezone.localdate()
    found = {c.id: ClusterStats.from_json(c.stats, today=today) for c in clusters if c.stats_at is not None}
    missing = [c for c in clusters if c.stats_at is None]
    if missing:
        found.update(cluster_stats_compute(project_id=missing[0].project_id, cluster_ids=[c.id for c in missing]))
    for c in clusters:
        found.setdefault(c.id, ClusterStats.from_json({}, today=today))
    return found


def cluster_stats(*, project: Project, cluster_ids: list[UUID] | None = None) -> dict[UUID, ClusterStats]:
    """Per task: calls, share of all the project's calls, tokens, cost at the LLM's prices, latency,
    prompt length (p99), agents, and calls per day over the last 30 days (for the sparkline), as stored
    on the task when its calls last changed (apps.discovery.stats)."""
    tasks = TaskCluster.objects.filter(project=project).only("id", "project_id", "stats", "stats_at")
    if cluster_ids is not None:
        tasks = tasks.filter(id__in=cluster_ids)
    return cluster_stats_of(clusters=list(tasks))


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


def task_router_build(*, project: Project, embed: Embed | None = None) -> TaskRouter:
    """The request-time router of a project's active tasks: each call site's stored calls counted per task
    (one grouped query), and, with `embed`, the nearest task centre as the fallback (apps.discovery.routing).
    Without `embed` a request the call sites do not decide routes to no task."""
    site_tasks: dict[str, dict[UUID, int]] = {}
    rows = (
        Call.objects.filter(project=project, curation_version__gt=0, task_cluster__status=ClusterStatus.ACTIVE)
        .exclude(call_site="")
        .order_by()
        .values_list("call_site", "task_cluster_id")
        .annotate(n=Count("id"))
    )
    for site, task_id, n in rows:
        site_tasks.setdefault(site, {})[task_id] = n
    fallback = None
    if embed is not None:
        owners: list[UUID] = []
        centres: list[dict[str, Any]] = []
        for task in TaskCluster.objects.filter(project=project, status=ClusterStatus.ACTIVE).exclude(centroid=None):
            for centre in task_centres(task):
                owners.append(task.id)
                centres.append(centre)
        fallback = NearestCentre(
            owners,
            np.array([c["centroid"] for c in centres], dtype=np.float32),
            np.array([c["threshold"] for c in centres], dtype=np.float32),
            embed=embed,
        )
    return TaskRouter(site_tasks, fallback=fallback)
