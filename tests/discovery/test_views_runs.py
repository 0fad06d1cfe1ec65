from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.discovery.models import DiscoveryRun, RunKind, TaskCluster
from apps.jobs.models import JobStatus
from apps.projects.models import Project

LIST_URL = "/p/acme/tasks/runs/"


def url(run: DiscoveryRun, action: str = "") -> str:
    return f"/p/{run.project.slug}/tasks/runs/{run.id}/{action + '/' if action else ''}"


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


@pytest.fixture
def running(project: Project, engineer: User) -> DiscoveryRun:
    return DiscoveryRun.objects.create(
        project=project,
        created_by=engineer,
        status=JobStatus.RUNNING,
        stage="clustering",
        progress=0.55,
        message="Clustering 1,200 calls",
        started_at=timezone.now(),
        calls_total=1200,
        timings={"reading": 4.2},
    )


@pytest.fixture
def finished(project: Project, make_cluster: Callable[..., TaskCluster]) -> DiscoveryRun:
    new, kept, gone = make_cluster(name="Refund requests"), make_cluster(name="Sentiment"), make_cluster()
    now = timezone.now()
    return DiscoveryRun.objects.create(
        project=project,
        status=JobStatus.SUCCEEDED,
        stage="done",
        progress=1.0,
        started_at=now - timedelta(seconds=75),
        finished_at=now,
        calls_total=3000,
        texts_total=2100,
        clusters_found=9,
        unassigned=42,
        timings={"reading": 40.0, "clustering": 30.5, "describing": 4.5},
        changes={
            "new": [{"id": str(new.id), "name": "Refund requests", "calls": 120}],
            "kept": [{"id": str(kept.id), "name": "Sentiment", "before": 800, "after": 850}],
            "retired": [{"id": str(gone.id), "name": "Old thing", "before": 7}],
            "moved_calls": 31,
        },
    )


def test_the_history_lists_runs_with_their_outcome(
    viewer_client: Client, finished: DiscoveryRun, running: DiscoveryRun, make_cluster: Callable[..., TaskCluster]
) -> None:
    target = make_cluster(name="Mixed bag")
    # one active run per project (`running`): the split ended
    split = DiscoveryRun.objects.create(
        project=finished.project, kind=RunKind.SPLIT, target=target, status=JobStatus.CANCELLED
    )
    response = viewer_client.get(LIST_URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    for run in (finished, running, split):
        assert f'href="{url(run)}"' in html
    assert "Split of" in html and f'href="/p/acme/tasks/{target.id}/">T4</a>' in html
    assert "3,000" in html and ">9<" in html and "1m 15s" in html and "55%" in html
    assert html.count('<td class="num">1</td>') == 2  # one new, one retired
    assert 'hx-trigger="every 2s"' in html  # refreshes while a run is going


def test_the_history_fragment_stops_polling_when_nothing_runs(viewer_client: Client, finished: DiscoveryRun) -> None:
    html = viewer_client.get(LIST_URL, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section id="runs-table"') and "every 2s" not in html


def test_a_running_run_polls_and_offers_cancel(engineer_client: Client, running: DiscoveryRun) -> None:
    html = engineer_client.get(url(running)).content.decode()
    assert "<html" in html and f'hx-get="{url(running)}"' in html and 'hx-trigger="every 2s"' in html
    assert 'hx-swap="outerHTML"' in html and 'id="run-status"' in html
    assert 'aria-valuenow="55"' in html and "Stage: clustering" in html and "Clustering 1,200 calls" in html
    assert f'action="{url(running, "cancel")}"' in html and "Reading" in html and "4.2 s" in html


def test_polling_returns_the_fragment_alone(viewer_client: Client, running: DiscoveryRun) -> None:
    html = viewer_client.get(url(running), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section id="run-status"')
    assert "every 2s" in html and "Cancel run" not in html  # viewers cannot cancel


def test_a_finished_run_stops_polling_and_shows_what_changed(viewer_client: Client, finished: DiscoveryRun) -> None:
    html = viewer_client.get(url(finished), HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in html and "hx-get" not in html
    new_id, kept_id, gone_id = (finished.changes[k][0]["id"] for k in ("new", "kept", "retired"))
    assert f'href="/p/acme/tasks/{new_id}/">Refund requests</a>' in html and "120 calls" in html
    assert f'href="/p/acme/tasks/{kept_id}/">Sentiment</a>' in html and "800 → 850 calls" in html
    assert f'href="/p/acme/tasks/{gone_id}/">Old thing</a>' in html and "had 7 calls" in html
    assert "31 calls changed task" in html
    assert "Clustering" in html and "30.5 s" in html and "75.0 s" in html  # per stage and in all
    assert ">42<" in html  # calls that fit no task


def test_a_split_run_shows_the_parent_and_its_parts(
    viewer_client: Client, project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    parent = make_cluster(name="Mixed bag", status="split")
    a, b = make_cluster(name="Mixed bag: refunds", parent=parent), make_cluster(name="Mixed bag: sql", parent=parent)
    run = DiscoveryRun.objects.create(
        project=project,
        kind=RunKind.SPLIT,
        target=parent,
        status=JobStatus.SUCCEEDED,
        changes={
            "split": True,
            "parent": {"id": str(parent.id), "name": "Mixed bag", "before": 50},
            "new": [{"id": str(a.id), "name": a.name, "calls": 30}, {"id": str(b.id), "name": b.name, "calls": 20}],
        },
    )
    html = viewer_client.get(url(run)).content.decode()
    assert "Split of" in html and f'href="/p/acme/tasks/{parent.id}/">Mixed bag</a> (50 calls) became 2 tasks' in html
    assert f'href="/p/acme/tasks/{a.id}/">Mixed bag: refunds</a>' in html and "20 calls" in html


def test_cancelling_a_queued_run_ends_it(engineer_client: Client, project: Project) -> None:
    run = DiscoveryRun.objects.create(project=project)
    response = engineer_client.post(url(run, "cancel"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="run-status"')
    assert "Cancelled" in html and "every 2s" not in html
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED


def test_cancelling_a_running_run_without_js_asks_it_to_stop(engineer_client: Client, running: DiscoveryRun) -> None:
    response = engineer_client.post(url(running, "cancel"))
    assert response.status_code == 302 and response["Location"] == url(running)
    running.refresh_from_db()
    assert running.cancel_requested and running.status == JobStatus.RUNNING
    assert "cancelling…" in engineer_client.get(url(running)).content.decode()


def test_viewers_cannot_cancel(viewer_client: Client, running: DiscoveryRun) -> None:
    assert viewer_client.post(url(running, "cancel")).status_code == 403
    running.refresh_from_db()
    assert not running.cancel_requested


def test_another_projects_run_is_404(engineer_client: Client, other_project: Project) -> None:
    theirs = DiscoveryRun.objects.create(project=other_project)
    assert engineer_client.get(f"/p/acme/tasks/runs/{theirs.id}/").status_code == 404
    assert engineer_client.post(f"/p/acme/tasks/runs/{theirs.id}/cancel/").status_code == 404
    assert engineer_client.get(f"/p/globex/tasks/runs/{theirs.id}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.QUEUED


def test_wrong_methods_are_405(engineer_client: Client, running: DiscoveryRun) -> None:
    assert engineer_client.post(LIST_URL).status_code == 405
    assert engineer_client.post(url(running)).status_code == 405
    assert engineer_client.get(url(running, "cancel")).status_code == 405
