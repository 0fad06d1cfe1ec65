"""Per-task statistics are computed when a task's calls change and stored on it; pages read them."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery import selectors, services
from apps.discovery.models import TaskCluster
from apps.discovery.stats import SPARK_DAYS, ClusterStats, task_stats_refresh
from apps.projects.models import Project
from tests.conftest import make_call
from tests.discovery.conftest import TASKS, cluster_of


def stored(project: Project, n: int, **fields: Any) -> list[Call]:
    records = [make_call(**fields) for _ in range(n)]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    return list(Call.objects.filter(project=project, client_id__in=[r["id"] for r in records]))


def test_a_refresh_stores_every_tasks_statistics_on_its_row(
    project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    busy = make_cluster(calls=stored(project, 3, agent="reviews", latency_ms=300))
    idle = make_cluster()
    stored(project, 1)  # in no task: it counts in the share's whole

    assert task_stats_refresh(project_id=project.id) == 2

    busy.refresh_from_db()
    idle.refresh_from_db()
    assert busy.stats_at is not None and idle.stats_at is not None
    assert (busy.stats["calls"], busy.stats["share"], busy.stats["prompt_tokens"]) == (3, 0.75, 3000)
    assert (busy.stats["latency_p50"], busy.stats["prompt_p99"], busy.stats["agents"]) == (300, 1000, ["reviews"])
    assert busy.stats["per_day"] == {timezone.localdate().isoformat(): 3}
    assert (idle.stats["calls"], idle.stats["latency_p50"], idle.stats["per_day"]) == (0, None, {})


def test_pages_read_the_stored_statistics_until_the_calls_change(
    project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    calls = stored(project, 2)
    task = make_cluster(calls=calls)
    task_stats_refresh(project_id=project.id)
    Call.objects.filter(id=calls[0].id).update(cost=100)  # changed behind discovery's back: not seen

    assert selectors.cluster_stats(project=project)[task.id].cost < 100

    services.task_cluster_stats_refresh(project_id=project.id)
    assert selectors.cluster_stats(project=project)[task.id].cost >= 100


def test_a_task_never_refreshed_is_computed_from_its_calls(
    project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    task = make_cluster(calls=stored(project, 2))
    assert task.stats_at is None
    assert selectors.cluster_stats(project=project)[task.id].calls == 2


def test_the_sparkline_window_ends_today_whenever_the_statistics_were_stored() -> None:
    today = timezone.localdate()
    stats = ClusterStats(calls=5, per_day=[(today - timedelta(days=1), 2), (today, 3)])

    later = ClusterStats.from_json(stats.as_json(), today=today + timedelta(days=10))

    assert len(later.per_day) == SPARK_DAYS and later.per_day[-1] == (today + timedelta(days=10), 0)
    assert (today, 3) in later.per_day and (today - timedelta(days=1), 2) in later.per_day
    gone = ClusterStats.from_json(stats.as_json(), today=today + timedelta(days=SPARK_DAYS))
    assert sum(n for _, n in gone.per_day) == 0 and gone.calls == 5


def test_a_merge_moves_the_statistics_with_the_calls(
    project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    into = make_cluster(calls=stored(project, 2))
    gone = make_cluster(calls=stored(project, 3))
    task_stats_refresh(project_id=project.id)

    services.task_cluster_merge(cluster=gone, into=into)

    stats = selectors.cluster_stats(project=project)
    assert (stats[into.id].calls, stats[gone.id].calls) == (5, 0)


def test_a_run_and_the_assignment_of_new_calls_keep_the_statistics_right(
    discovered: Project,
    ingest: Callable[..., int],
    more_records: Callable[[int], list[dict[str, Any]]],
    task_of: dict[str, str],
    login: Callable[..., Client],
    viewer: Any,
) -> None:
    tasks = {t: cluster_of(discovered, task_of, t) for t in TASKS}
    assert all(task.stats_at is not None for task in tasks.values())  # the run stored them

    ingest(more_records(10))
    services.calls_assign_all(project_id=discovered.id)

    stats = selectors.cluster_stats(project=discovered)
    total = Call.objects.filter(project=discovered).count()
    for task in tasks.values():
        calls = Call.objects.filter(task_cluster=task).count()
        assert stats[task.id].calls == calls and abs(stats[task.id].share - calls / total) < 1e-9
        assert sum(n for _, n in stats[task.id].per_day) == calls  # all sample calls carry recent dates
    assigned = Call.objects.filter(project=discovered).exclude(task_cluster=None).count()
    html = login(viewer).get(f"/p/{discovered.slug}/tasks/").content.decode()
    assert f"3 tasks</strong> hold {assigned} calls" in html
