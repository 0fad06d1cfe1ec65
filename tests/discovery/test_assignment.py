"""New calls land in the current tasks as they arrive; calls that fit none count as drift."""

from collections.abc import Callable
from typing import Any

import pytest

from apps.calls.models import Call
from apps.discovery import selectors, services
from apps.discovery.models import DiscoveryRun
from apps.projects.models import Project
from tests.discovery.conftest import cluster_of


def test_new_calls_are_assigned_to_the_task_they_belong_to(
    discovered: Project,
    ingest: Callable[..., int],
    more_records: Callable[[int], list[dict[str, Any]]],
    task_of: dict[str, str],
) -> None:
    ingest(more_records(10))
    new = Call.objects.filter(project=discovered, cluster_assigned_at=None)
    assert new.count() == 30

    assert services.calls_assign_all(project_id=discovered.id) == 30

    for call in Call.objects.filter(project=discovered, client_id__in=[r["id"] for r in more_records(10)]):
        expected = cluster_of(discovered, {k: v for k, v in task_of.items()}, task_of[call.client_id])
        assert call.task_cluster_id == expected.id, task_of[call.client_id]
        assert call.cluster_confidence is not None and 0 <= call.cluster_confidence <= 1
        assert call.cluster_assigned_at is not None


def test_calls_of_an_unknown_task_stay_unassigned_and_count_as_drift(
    discovered: Project, ingest: Callable[..., int], sample_records: list[dict[str, Any]]
) -> None:
    unknown = [r for r in sample_records if r["task"] == "math_word_problem"][:12]
    ingest(unknown)

    services.calls_assign_all(project_id=discovered.id)

    stored = Call.objects.filter(project=discovered, client_id__in=[r["id"] for r in unknown])
    assert stored.filter(task_cluster=None).count() == 12
    drift = selectors.drift_get(project=discovered)
    assert (drift.arrived, drift.unassigned, drift.waiting) == (12, 12, 0)
    assert drift.share == 1.0


def test_ingest_schedules_assignment_only_once_a_project_has_tasks(
    project: Project,
    discovered: Project,
    other_project: Project,
    ingest: Callable[..., int],
    more_records: Callable[[int], list[dict[str, Any]]],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(
        "apps.discovery.tasks.calls_assign_task.apply_async", lambda args, countdown: queued.append(args[0])
    )
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(f"downshift:assign:{project.id}")

    with django_capture_on_commit_callbacks(execute=True):
        ingest(more_records(2))
        ingest(more_records(3)[2:], other_project)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(more_records(3)[2:])  # a burst: the first job takes these too

    assert queued == [str(project.id)]


def test_a_run_over_too_few_calls_fails_with_a_reason(
    project: Project, ingest: Callable[..., int], sample_records: list[dict[str, Any]]
) -> None:
    from apps.discovery import pipeline

    ingest(sample_records[:2])
    run = DiscoveryRun.objects.create(project=project)

    pipeline.discovery_run_execute(run_id=run.id)

    run.refresh_from_db()
    assert run.status == "failed"
    assert "needs more calls" in run.error


def test_a_cancelled_run_stops_and_leaves_calls_unassigned(
    project: Project, sample_calls: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person asks to stop while the run clusters: the run ends cancelled and writes nothing."""
    from apps.discovery import pipeline

    run = DiscoveryRun.objects.create(project=project)
    original = pipeline.jobs.job_progress

    def progress(**kwargs: Any) -> bool:
        if kwargs.get("stage") == "clustering":
            DiscoveryRun.objects.filter(id=run.id).update(cancel_requested=True)
        return original(**kwargs)

    monkeypatch.setattr(pipeline.jobs, "job_progress", progress)
    pipeline.discovery_run_execute(run_id=run.id)

    run.refresh_from_db()
    assert run.status == "cancelled"
    assert not Call.objects.filter(project=project).exclude(task_cluster=None).exists()


def test_after_a_merge_new_calls_of_either_task_land_in_the_merged_one(
    discovered: Project,
    ingest: Callable[..., int],
    more_records: Callable[[int], list[dict[str, Any]]],
    task_of: dict[str, str],
) -> None:
    sentiment = cluster_of(discovered, task_of, "sentiment_classification")
    sql = cluster_of(discovered, task_of, "text_to_sql")
    services.task_cluster_merge(cluster=sentiment, into=sql)
    ingest(more_records(5))

    services.calls_assign_all(project_id=discovered.id)

    for call in Call.objects.filter(client_id__in=[r["id"] for r in more_records(5)]):
        if task_of[call.client_id] in ("sentiment_classification", "text_to_sql"):
            assert call.task_cluster_id == sql.id, task_of[call.client_id]
        else:
            assert call.task_cluster_id not in (None, sql.id)
