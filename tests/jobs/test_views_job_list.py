"""The project's Jobs page: its members see every long job of their project, its progress and the worker
that runs it (the fleet page itself is staff's)."""

from collections.abc import Callable

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.calls.models import ImportJob
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import TrainingDataset, TrainingRun

URL = "/p/acme/jobs/"


def a_training_run(project: Project, **fields: object) -> TrainingRun:
    cluster = TaskCluster.objects.create(project=project, number=1, name="Ticket triage")
    dataset = TrainingDataset.objects.create(project=project, cluster=cluster, status=JobStatus.SUCCEEDED)
    return TrainingRun.objects.create(project=project, cluster=cluster, dataset=dataset, queue="gpu", **fields)


def test_a_member_sees_the_projects_jobs_with_progress_and_worker(
    login: Callable[[User], Client], viewer: User, project: Project, other_project: Project
) -> None:
    run = a_training_run(
        project,
        status=JobStatus.RUNNING,
        progress=0.4,
        stage="training",
        worker="celery@gpu-1:4242",
        heartbeat_at=timezone.now(),
    )
    DiscoveryRun.objects.create(project=project, status=JobStatus.FAILED, error="Too few calls to group: 3")
    DiscoveryRun.objects.create(project=other_project, status=JobStatus.RUNNING, worker="celery@other-host:1")

    response = login(viewer).get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<a href="/p/acme/specialists/runs/{run.id}/">Training run</a>' in html
    assert "<code>celery@gpu-1</code>" in html and "4242" not in html
    assert "progress-bar w-40" in html and "40% · training" in html
    assert "Dataset build" in html and "Too few calls to group: 3" in html
    assert "other-host" not in html  # another project's jobs never show
    assert 'hx-trigger="every 2s"' in html  # a job is running: the table polls
    assert 'href="/p/acme/jobs/" aria-current="page"' in html
    assert html.count('aria-current="page"') == 1  # Calls' list is named "list" too: not marked


def test_an_upload_links_to_its_page_only_for_those_who_may_upload(
    login: Callable[[User], Client], viewer: User, engineer: User, project: Project
) -> None:
    job = ImportJob.objects.create(project=project, filename="agents.jsonl", path="x", status=JobStatus.QUEUED)
    link = f'<a href="/p/acme/uploads/{job.id}/">Upload</a>'

    assert link in login(engineer).get(URL).content.decode()
    seen = login(viewer).get(URL).content.decode()
    assert link not in seen and "Upload</td>" in seen.replace("\n", "")
    assert "waiting for one" in seen


def test_the_polled_fragment_is_the_table_alone_and_stops_polling_when_all_are_done(
    login: Callable[[User], Client], viewer: User, project: Project
) -> None:
    DiscoveryRun.objects.create(project=project, status=JobStatus.SUCCEEDED, message="8 tasks found")
    html = login(viewer).get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="jobs-table"')
    assert "8 tasks found" in html and "hx-trigger" not in html


def test_no_jobs_yet(login: Callable[[User], Client], viewer: User, project: Project) -> None:
    assert "No jobs yet" in login(viewer).get(URL).content.decode()
