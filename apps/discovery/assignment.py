"""Calls to tasks: how a run records its assignments, a task's centre and threshold, and the
incremental assignment of calls that arrive between runs."""

from typing import Any
from uuid import UUID

import numpy as np
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.features import call_vectors, task_keys_ensure
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.discovery.stats import task_stats_refresh

WRITE_BATCH = 10_000


def write_assignments(
    ids: list[UUID], cluster_ids: list[UUID | None], confidence: list[float | None], now: Any
) -> None:
    """`now`: when the calls were assigned; None keeps their time (a split moves calls, none arrive)."""
    with connection.cursor() as cursor:
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            cursor.execute(
                "UPDATE calls_call AS c SET task_cluster_id = v.cluster, cluster_confidence = v.confidence, "
                "cluster_assigned_at = coalesce(%s::timestamptz, c.cluster_assigned_at) "
                "FROM unnest(%s::uuid[], %s::uuid[], %s::float8[]) AS v(id, cluster, confidence) WHERE c.id = v.id",
                [now, ids[start:end], cluster_ids[start:end], confidence[start:end]],
            )


def centre_fields(x: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    centre = (x * weights[:, None]).sum(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    sims = x @ centre
    from workers.jobs.clustering import THRESHOLD_MARGIN, THRESHOLD_PERCENTILE

    return {
        "centroid": [round(float(v), 6) for v in centre],
        "spread": float(np.median(sims)),
        "threshold": float(np.percentile(sims, THRESHOLD_PERCENTILE)) - THRESHOLD_MARGIN,
    }


def task_centres(task: TaskCluster) -> list[dict[str, Any]]:
    if task.centres:
        return list(task.centres)
    if task.centroid is None:
        return []
    return [{"centroid": task.centroid, "spread": task.spread, "threshold": task.threshold}]


def calls_assign(*, project_id: Any, limit: int = 20_000) -> int:
    """Give calls not looked at yet the nearest active task, or none (drift), and refresh the tasks'
    statistics. Returns calls assigned."""
    from workers.jobs.clustering import assign

    owners: list[TaskCluster] = []
    centres: list[dict[str, Any]] = []
    for task in TaskCluster.objects.filter(project_id=project_id, status=ClusterStatus.ACTIVE).exclude(centroid=None):
        for centre in task_centres(task):
            owners.append(task)
            centres.append(centre)
    if not centres:
        return 0
    pending = Q(project_id=project_id, cluster_assigned_at=None, curation_version__gt=0)
    ids = list(Call.objects.filter(pending).order_by("received_at").values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    task_keys_ensure(call_ids=ids)
    vectors = call_vectors(Call.objects.filter(id__in=ids).values_list("id", "task_keys"))
    labels, confidence = assign(
        vectors.x,
        np.array([c["centroid"] for c in centres], dtype=np.float32),
        np.array([c["spread"] for c in centres], dtype=np.float32),
        np.array([c["threshold"] for c in centres], dtype=np.float32),
    )
    call_labels, call_conf = labels[vectors.index], confidence[vectors.index]
    write_assignments(
        vectors.ids,
        [owners[int(label)].id if label >= 0 else None for label in call_labels],
        [float(c) if label >= 0 else None for label, c in zip(call_labels, call_conf, strict=True)],
        timezone.now(),
    )
    task_stats_refresh(project_id=project_id)
    return len(ids)
