"""A worker busy with an upload, a re-scan or a discovery run is shown busy with it, not "idle"."""

from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.calls.models import ImportJob
from apps.discovery.models import DiscoveryRun
from apps.fleet.models import GpuWorker
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.jobs.selectors import job_running_on
from apps.projects.models import Project


def test_a_job_records_the_celery_worker_that_runs_it() -> None:
    task = SimpleNamespace(request=SimpleNamespace(hostname="celery@cpu-1"))
    with mock.patch("celery.current_task", task):
        assert jobs.worker_name().startswith("celery@cpu-1:")


def test_the_page_shows_a_running_job_of_any_kind(
    login: Callable[[User], Client], site_admin: User, make_worker: Callable[..., GpuWorker], project: Project
) -> None:
    make_worker("celery@cpu-1", queues=["cpu"], gpus=[])
    make_worker("celery@cpu-2", queues=["cpu"], gpus=[])
    ImportJob.objects.create(
        project=project,
        filename="calls.jsonl",
        status=JobStatus.RUNNING,
        worker="celery@cpu-1:4242",
        stage="importing",
        progress=0.25,
        started_at=timezone.now(),
    )
    html = login(site_admin).get("/workers/").content.decode()
    busy = html[html.index("celery@cpu-1") : html.index("celery@cpu-2")]
    assert "Upload" in busy and "importing · 25%" in busy and "idle" not in busy
    assert "idle" in html[html.index("celery@cpu-2") :]


def test_the_latest_started_job_is_the_current_one(project: Project) -> None:
    now = timezone.now()
    ImportJob.objects.create(
        project=project, filename="a.jsonl", status=JobStatus.RUNNING, worker="celery@w:1", started_at=now
    )
    run = DiscoveryRun.objects.create(
        project=project, status=JobStatus.RUNNING, worker="celery@w:1", started_at=now + timedelta(seconds=5)
    )
    found = job_running_on(worker="celery@w")
    assert found is not None and found[0] == "discovery run" and found[1].id == run.id
    assert job_running_on(worker="celery@w2") is None  # a name that only starts the same is another worker
