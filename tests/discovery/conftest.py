from collections.abc import Callable
from typing import Any

import pytest

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery import pipeline
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.projects.models import Project

TASKS = ("sentiment_classification", "text_to_sql", "ticket_triage_json")
PER_TASK = 40


def _records(sample_records: list[dict[str, Any]], tasks: tuple[str, ...], per_task: int, skip: int = 0):
    picked: list[dict[str, Any]] = []
    for task in tasks:
        picked += [r for r in sample_records if r["task"] == task][skip : skip + per_task]
    return picked


@pytest.fixture
def ingest(project: Project) -> Callable[..., int]:
    def do(records: list[dict[str, Any]], target: Project | None = None) -> int:
        batch = Batch(records=list(enumerate(records)), broken=[])
        return calls_ingest(project=target or project, batch=batch).accepted

    return do


@pytest.fixture
def task_of(sample_records: list[dict[str, Any]]) -> dict[str, str]:
    """The true task of each sample call by its client id (the product never reads it)."""
    return {r["id"]: r["task"] for r in sample_records}


@pytest.fixture
def sample_calls(project: Project, ingest: Callable[..., int], sample_records: list[dict[str, Any]]) -> Project:
    """Three of the sample's tasks, 40 calls each."""
    ingest(_records(sample_records, TASKS, PER_TASK))
    return project


@pytest.fixture
def more_records(sample_records: list[dict[str, Any]]) -> Callable[[int], list[dict[str, Any]]]:
    """Further calls of the same three tasks, not ingested yet."""
    return lambda n: _records(sample_records, TASKS, n, skip=PER_TASK)


@pytest.fixture
def run_discovery(project: Project) -> Callable[..., DiscoveryRun]:
    def do(on: Project | None = None, **fields: Any) -> DiscoveryRun:
        run = DiscoveryRun.objects.create(project=on or project, **fields)
        pipeline.discovery_run_execute(run_id=run.id)
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        return run

    return do


@pytest.fixture
def discovered(sample_calls: Project, run_discovery: Callable[..., DiscoveryRun]) -> Project:
    run_discovery(min_cluster_size=10)
    return sample_calls


def cluster_of(project: Project, task_of: dict[str, str], task: str) -> TaskCluster:
    """The task cluster most calls of a true task are in."""
    ids = [cid for cid, t in task_of.items() if t == task]
    counts: dict[Any, int] = {}
    for cluster_id in Call.objects.filter(project=project, client_id__in=ids).values_list("task_cluster", flat=True):
        counts[cluster_id] = counts.get(cluster_id, 0) + 1
    best = max(counts, key=lambda k: counts[k])
    return TaskCluster.objects.get(id=best)


@pytest.fixture
def make_cluster(project: Project) -> Callable[..., TaskCluster]:
    """A task cluster made directly (no run), for page and API tests; `calls` are assigned to it."""
    numbers = iter(range(1, 1000))

    def make(target: Project | None = None, calls: list[Call] | None = None, **fields: Any) -> TaskCluster:
        owner = target or project
        number = next(numbers)
        defaults: dict[str, Any] = {
            "name": f"Task {number}",
            "output_kind": "label",
            "labels": ["positive", "negative"],
            "keywords": ["review", "sentiment"],
            "centroid": [1.0] + [0.0] * 1151,
        }
        cluster = TaskCluster.objects.create(project=owner, number=number, **{**defaults, **fields})
        if calls:
            Call.objects.filter(id__in=[c.id for c in calls]).update(task_cluster=cluster, cluster_confidence=0.9)
        return cluster

    return make
