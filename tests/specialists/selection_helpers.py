"""Plain helpers for the model-choice and dataset tests: calls stored through ingestion, tasks made
directly, and a real discovery over three of the sample's tasks."""

import itertools
from typing import Any

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery import pipeline
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.projects.models import Project
from apps.specialists import datasets, services
from apps.specialists.models import CatalogModel, TrainingDataset
from tests.conftest import make_call

_numbers = itertools.count(1)
SAMPLE_TASKS = ("sentiment_classification", "text_to_sql", "ticket_triage_json")


def stored(project: Project, records: list[dict[str, Any]]) -> list[Call]:
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    return list(Call.objects.filter(project=project, client_id__in=[r["id"] for r in records]).order_by("client_id"))


def conversation(prefix: str, n: int, *, trace_id: str = "", user: str = "", **fields: Any) -> list[dict[str, Any]]:
    """n calls; with a trace id they share it, else each has its own first user message."""
    records = []
    for i in range(n):
        first = user or f"{prefix} question {i}"
        records.append(
            make_call(
                id=f"{prefix}-{i:04d}",
                trace_id=trace_id,
                request={
                    "model": "gpt-4o",
                    "messages": [
                        {"role": "system", "content": "Classify the review."},
                        {"role": "user", "content": first},
                    ],
                },
                response={"role": "assistant", "content": "positive" if i % 2 else "negative"},
                **fields,
            )
        )
    return records


def make_task(project: Project, calls: list[Call] | None = None, **fields: Any) -> TaskCluster:
    number = next(_numbers)
    defaults: dict[str, Any] = {"name": f"Task {number}", "output_kind": "label", "labels": ["positive", "negative"]}
    cluster = TaskCluster.objects.create(project=project, number=number, **{**defaults, **fields})
    if calls:
        Call.objects.filter(id__in=[c.id for c in calls]).update(task_cluster=cluster, cluster_confidence=0.9)
    return cluster


def only_models(*models: CatalogModel) -> None:
    """Disable every other catalog model, so a ranking sees only these."""
    CatalogModel.objects.exclude(id__in=[m.id for m in models]).update(enabled=False)


def catalog_model(**fields: Any) -> CatalogModel:
    number = next(_numbers)
    defaults: dict[str, Any] = {
        "hf_id": f"tests/model-{number}",
        "name": f"Model {number}",
        "params_b": 1.0,
        "licence": "apache-2.0",
        "context_window": 8192,
        "tool_calling": False,
    }
    return CatalogModel.objects.create(**{**defaults, **fields})


def discover(project: Project, sample_records: list[dict[str, Any]], per_task: int = 40) -> Project:
    """The sample's sentiment, SQL and ticket-triage calls, grouped by a real discovery run."""
    records = []
    for task in SAMPLE_TASKS:
        records += [r for r in sample_records if r["task"] == task][:per_task]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    run = DiscoveryRun.objects.create(project=project, min_cluster_size=10)
    pipeline.discovery_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return project


def cluster_for(project: Project, sample_records: list[dict[str, Any]], task: str) -> TaskCluster:
    """The task cluster most calls of a true task landed in."""
    ids = [r["id"] for r in sample_records if r["task"] == task]
    counts: dict[Any, int] = {}
    for cluster_id in Call.objects.filter(project=project, client_id__in=ids).values_list("task_cluster", flat=True):
        counts[cluster_id] = counts.get(cluster_id, 0) + 1
    return TaskCluster.objects.get(id=max(counts, key=lambda k: counts[k]))


def build(cluster: TaskCluster, base_model: CatalogModel | None, kind: str = "lora", **options: Any) -> TrainingDataset:
    """Queue a dataset, then run its build job here, as the cpu worker would; it must succeed."""
    dataset = services.dataset_create(cluster=cluster, base_model=base_model, kind=kind, **options)
    datasets.dataset_build_run(dataset_id=dataset.id)
    dataset.refresh_from_db()
    assert dataset.status == "succeeded", dataset.error
    return dataset
