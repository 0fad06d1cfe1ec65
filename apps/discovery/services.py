"""Writes for task discovery: start and cancel runs, and what people decide about tasks (name,
describe, keep on the LLM, merge, split). Runs themselves execute in apps.discovery.pipeline."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from apps.calls.models import Call
from apps.common.errors import Conflict, DomainError
from apps.common.redis_client import redis_client
from apps.discovery import assignment, pipeline
from apps.discovery.assignment import task_centres
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster
from apps.discovery.stats import task_stats_refresh
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project

ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)
ASSIGN_DEBOUNCE_S = 3


def _run_start(**fields: Any) -> DiscoveryRun:
    """Create a queued run and enqueue it after commit. One active run per project is a partial unique
    constraint, so two concurrent starts cannot both get one."""
    try:
        with transaction.atomic():
            run = DiscoveryRun.objects.create(**fields, stage="queued", message="Waiting for a worker on the cpu queue")
    except IntegrityError:
        active = DiscoveryRun.objects.filter(project=fields["project"], status__in=ACTIVE_JOB).first()
        state = active.get_status_display().lower() if active else "running"
        raise Conflict(
            f"A discovery run is already {state} for this project; wait for it or cancel it", field="run"
        ) from None
    jobs.job_enqueue(job=run)
    return run


@transaction.atomic
def discovery_run_create(
    *,
    project: Project,
    created_by: AbstractBaseUser | None,
    since: datetime | None = None,
    until: datetime | None = None,
    agents: Sequence[str] = (),
    min_cluster_size: int | None = None,
) -> DiscoveryRun:
    """Queue a discovery run over the project's curated calls (optionally a time window and agents)."""
    if since and until and since >= until:
        raise DomainError("'until' must be after 'since'", field="until")
    if min_cluster_size is not None and min_cluster_size < 2:
        raise DomainError("The smallest task must be at least 2 calls", field="min_cluster_size")
    return _run_start(
        project=project,
        kind=RunKind.FULL,
        since=since,
        until=until,
        agents=[a for a in agents if a],
        min_cluster_size=min_cluster_size,
        created_by=created_by,
    )


def discovery_run_cancel(*, run: DiscoveryRun) -> DiscoveryRun:
    result = jobs.job_request_cancel(job=run)
    assert isinstance(result, DiscoveryRun)
    return result


def _active(cluster: TaskCluster, field: str = "cluster") -> None:
    if cluster.status != ClusterStatus.ACTIVE:
        raise Conflict(f"{cluster.code} is {cluster.get_status_display().lower()}, not an active task", field=field)


@transaction.atomic
def task_cluster_update(
    *,
    cluster: TaskCluster,
    name: str | None = None,
    description: str | None = None,
    keep_on_llm: bool | None = None,
) -> TaskCluster:
    """People's decisions about a task; an edited task is kept whole by later runs."""
    if name is not None:
        name = name.strip()
        if not name:
            raise DomainError("A task needs a name", field="name")
        if len(name) > 120:
            raise DomainError("Keep the name under 120 characters", field="name")
        cluster.name = name
    if description is not None:
        cluster.description = description.strip()
    if keep_on_llm is not None:
        cluster.keep_on_llm = keep_on_llm
    cluster.edited = True
    cluster.save()
    return cluster


@transaction.atomic
def task_cluster_merge(*, cluster: TaskCluster, into: TaskCluster) -> TaskCluster:
    """Fold one task into another: its calls move, its centre joins the other's, and the next run
    keeps them together."""
    if cluster.project_id != into.project_id:
        raise DomainError("Both tasks must be in the same project", field="into")
    if cluster.id == into.id:
        raise DomainError("Pick another task to merge with", field="into")
    _active(cluster)
    _active(into, "into")
    # The merged task answers to both tasks' centres: a blend of two distant centres would fit neither.
    into.centres = task_centres(into) + task_centres(cluster)
    Call.objects.filter(task_cluster=cluster).update(task_cluster=into)
    into.edited = True
    into.save()
    cluster.status = ClusterStatus.MERGED
    cluster.merged_into = into
    cluster.edited = True
    cluster.save()
    TaskCluster.objects.filter(merged_into=cluster).update(merged_into=into)
    pipeline.clusters_describe(project_id=into.project_id, cluster_ids=[into.id])
    task_stats_refresh(project_id=into.project_id, cluster_ids=[into.id, cluster.id])
    into.refresh_from_db()
    return into


@transaction.atomic
def task_cluster_split(*, cluster: TaskCluster, created_by: AbstractBaseUser | None) -> DiscoveryRun:
    """Queue a re-clustering inside one task; its parts become tasks of their own."""
    _active(cluster)
    return _run_start(project=cluster.project, kind=RunKind.SPLIT, target=cluster, created_by=created_by)


def assignment_due(*, project_id: Any) -> bool:
    """After calls arrive: whether to assign them to the current tasks now. Bursts of batches share one
    job (a short Redis lock); a project with no task yet has nothing to assign to."""
    if not TaskCluster.objects.filter(project_id=project_id, status=ClusterStatus.ACTIVE).exists():
        return False
    return bool(redis_client().set(f"downshift:assign:{project_id}", 1, nx=True, ex=ASSIGN_DEBOUNCE_S))


def calls_assign_all(*, project_id: Any) -> int:
    """Assign every call waiting for a task, in batches."""
    total = 0
    while assigned := assignment.calls_assign(project_id=project_id):
        total += assigned
    return total


def task_cluster_stats_refresh(*, project_id: Any) -> int:
    """Recompute every task's statistics after calls changed outside discovery (re-priced, deleted)."""
    return task_stats_refresh(project_id=project_id)
