from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.models import DiscoveryRun, RunKind, TaskCluster
from apps.discovery.stats import task_stats_refresh
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/p/acme/tasks/"
FIND_URL = "/p/acme/tasks/find/"


@pytest.fixture
def calls(project: Project, ingest: Callable[..., int]) -> list[Call]:
    ingest([make_call(id=f"c{i}") for i in range(6)])
    return list(Call.objects.filter(project=project).order_by("client_id"))


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def test_with_no_tasks_the_page_explains_discovery_and_offers_the_button(engineer_client: Client) -> None:
    response = engineer_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Find the tasks in your calls" in html and "groups calls that do the same job" in html
    assert f'action="{FIND_URL}"' in html and "Find tasks" in html
    assert 'href="/p/acme/tasks/map/"' in html and 'href="/p/acme/tasks/runs/"' in html
    assert 'aria-current="page">Tasks</a>' in html


def test_lists_each_active_task_with_its_numbers_badges_and_sparkline(
    viewer_client: Client, calls: list[Call], make_cluster: Callable[..., TaskCluster]
) -> None:
    big = make_cluster(calls=calls[:4], name="Sentiment of reviews", keep_on_llm=True)
    small = make_cluster(calls=calls[4:5], name="Text to SQL", output_kind="sql", labels=[])
    make_cluster(name="Old task", status="merged", merged_into=big)
    html = viewer_client.get(URL).content.decode()
    assert f'href="/p/acme/tasks/{big.id}/"' in html and f'href="/p/acme/tasks/{small.id}/"' in html
    assert "Old task" not in html
    assert html.index("Sentiment of reviews") < html.index("Text to SQL")  # the biggest first
    assert "Label from a closed set" in html and ">SQL<" in html
    assert "66.7%" in html and "16.7%" in html  # 4 and 1 of 6 calls
    assert "4.4k" in html  # 4 calls of 1,100 tokens
    assert "420 ms" in html
    assert "Kept on LLM" in html and 'class="badge badge-fit-' in html
    assert html.count('<svg class="sparkline"') == 2 and "4 calls in the last 30 days" in html
    assert "2 tasks</strong> hold 5 calls" in html
    # a viewer sees everything but the button
    assert FIND_URL not in html


def test_with_htmx_only_the_run_panel_comes_back(engineer_client: Client, calls: list[Call], make_cluster) -> None:
    make_cluster(calls=calls)
    html = engineer_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section id="run-panel"') and "<table" not in html


def test_an_active_run_shows_its_progress_polling_instead_of_the_button(
    engineer_client: Client, project: Project
) -> None:
    run = DiscoveryRun.objects.create(
        project=project, status=JobStatus.RUNNING, stage="clustering", progress=0.6, message="Clustering 120 calls"
    )
    html = engineer_client.get(URL).content.decode()
    assert f'hx-get="{URL}?watching={run.id}"' in html and 'hx-trigger="every 2s"' in html
    assert 'aria-valuenow="60"' in html and "Stage: clustering" in html and "Clustering 120 calls" in html
    assert f'href="/p/acme/tasks/runs/{run.id}/"' in html and f'action="{FIND_URL}"' not in html


def test_the_panel_reloads_the_page_once_the_run_it_watched_has_ended(
    engineer_client: Client, project: Project
) -> None:
    run = DiscoveryRun.objects.create(project=project, status=JobStatus.RUNNING)
    polled = engineer_client.get(f"{URL}?watching={run.id}", HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in polled and 'hx-trigger="every 2s"' in polled.content.decode()
    DiscoveryRun.objects.filter(id=run.id).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    done = engineer_client.get(f"{URL}?watching={run.id}", HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true" and "every 2s" not in done.content.decode()


def test_the_drift_line_counts_calls_since_the_last_run_that_fit_no_task(
    viewer_client: Client, project: Project, calls: list[Call], make_cluster: Callable[..., TaskCluster]
) -> None:
    make_cluster(calls=calls[:2])
    DiscoveryRun.objects.create(
        project=project, status=JobStatus.SUCCEEDED, finished_at=timezone.now() - timedelta(hours=2)
    )
    now = timezone.now()
    Call.objects.filter(id__in=[c.id for c in calls[:4]]).update(cluster_assigned_at=now)
    html = viewer_client.get(URL).content.decode()
    # 4 arrived since the run, 2 of them fit no task; 2 were never looked at
    assert "4 calls arrived" in html and "2 fit no task</strong> (50%)" in html and "2 waiting to be sorted" in html
    assert "Run discovery again" not in html  # too few to matter


def test_find_tasks_starts_a_run_and_goes_to_its_page(
    engineer_client: Client, project: Project, engineer: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = engineer_client.post(FIND_URL, {"since": "2025-01-01", "min_cluster_size": "5"})
    run = DiscoveryRun.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == f"/p/acme/tasks/runs/{run.id}/"
    assert run.kind == RunKind.FULL and run.status == JobStatus.QUEUED and run.created_by == engineer
    assert run.min_cluster_size == 5 and run.since is not None and run.since.date().isoformat() == "2025-01-01"
    assert len(callbacks) == 1
    with mock.patch("apps.discovery.tasks.discovery_run_execute_task.apply_async") as apply_async:
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(run.id)])


def test_a_second_click_while_a_run_is_active_shows_the_conflict(engineer_client: Client, project: Project) -> None:
    assert engineer_client.post(FIND_URL).status_code == 302
    response = engineer_client.post(FIND_URL)
    html = response.content.decode()
    assert response.status_code == 409 and "<html" in html
    assert "A discovery run is already queued for this project" in html
    assert DiscoveryRun.objects.filter(project=project).count() == 1


def test_bad_options_are_shown_next_to_their_fields(engineer_client: Client, project: Project) -> None:
    response = engineer_client.post(FIND_URL, {"since": "2025-02-01", "until": "2025-01-01", "min_cluster_size": "1"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "swap the dates" in html and "at least 2 calls" in html and '<details class="find-options" open>' in html
    assert not DiscoveryRun.objects.filter(project=project).exists()


def test_viewers_cannot_start_a_run(viewer_client: Client, project: Project) -> None:
    assert viewer_client.post(FIND_URL).status_code == 403
    assert not DiscoveryRun.objects.filter(project=project).exists()


def test_outsiders_get_404_and_the_anonymous_the_login_page(
    login: Callable[[User], Client], outsider: User, client: Client
) -> None:
    assert client.get(URL).status_code == 302
    outsider_client = login(outsider)
    assert outsider_client.get(URL).status_code == 404 and outsider_client.post(FIND_URL).status_code == 404


def test_wrong_methods_are_405(engineer_client: Client) -> None:
    assert engineer_client.post(URL).status_code == 405
    assert engineer_client.get(FIND_URL).status_code == 405


def test_lists_the_tasks_a_real_run_found(login: Callable[[User], Client], viewer: User, discovered: Project) -> None:
    tasks = TaskCluster.objects.filter(project=discovered, status="active")
    html = login(viewer).get(URL).content.decode()
    assert tasks.count() >= 3
    for task in tasks:
        assert f'href="/p/acme/tasks/{task.id}/"' in html and task.code in html
    assert html.count('<svg class="sparkline"') == tasks.count()
    assert "Last run" in html


def _many_tasks(project: Project, calls: list[Call], make_cluster: Callable[..., TaskCluster], n: int) -> None:
    for i in range(n):
        make_cluster(calls=[calls[i % len(calls)]])
    task_stats_refresh(project_id=project.id)


@pytest.mark.parametrize("tasks", [1, 15])
def test_the_polled_run_panel_reads_only_the_run_whatever_the_number_of_tasks(
    engineer_client: Client,
    project: Project,
    calls: list[Call],
    make_cluster: Callable[..., TaskCluster],
    django_assert_max_num_queries: Any,
    tasks: int,
) -> None:
    _many_tasks(project, calls, make_cluster, tasks)
    run = DiscoveryRun.objects.create(project=project, status=JobStatus.RUNNING, stage="reading", progress=0.2)
    with django_assert_max_num_queries(6) as queries:  # the session, user, project and role; then the run
        html = engineer_client.get(f"{URL}?watching={run.id}", HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-valuenow="20"' in html and "<table" not in html
    assert not [q["sql"] for q in queries.captured_queries if "calls_call" in q["sql"]]


@pytest.mark.parametrize("tasks", [1, 15])
def test_the_run_panel_alone_reads_the_stored_statistics_whatever_the_number_of_tasks(
    engineer_client: Client,
    project: Project,
    calls: list[Call],
    make_cluster: Callable[..., TaskCluster],
    django_assert_max_num_queries: Any,
    tasks: int,
) -> None:
    _many_tasks(project, calls, make_cluster, tasks)
    DiscoveryRun.objects.create(project=project, status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    with django_assert_max_num_queries(12) as queries:  # the run, the tasks, the last run, the drift line
        html = engineer_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert f"{tasks} task{'s' if tasks > 1 else ''}</strong> hold {min(tasks, 6)} calls" in html
    assert not [q["sql"] for q in queries.captured_queries if "percentile_cont" in q["sql"]]


def test_the_page_shows_the_stored_statistics_without_computing_them(
    viewer_client: Client, project: Project, calls: list[Call], make_cluster: Callable[..., TaskCluster]
) -> None:
    make_cluster(calls=calls[:4], name="Sentiment of reviews")
    task_stats_refresh(project_id=project.id)
    with CaptureQueriesContext(connection) as queries:
        html = viewer_client.get(URL).content.decode()
    assert "66.7%" in html and "4.4k" in html and "420 ms" in html and "4 calls in the last 30 days" in html
    assert not [q["sql"] for q in queries.captured_queries if "percentile_cont" in q["sql"]]
