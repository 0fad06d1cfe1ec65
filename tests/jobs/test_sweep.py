"""The sweep: a running job whose worker is gone is requeued when its kind resumes safely, else failed
with a reason; a job someone asked to cancel ends cancelled; live jobs are left alone."""

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.calls.models import ImportJob
from apps.curation.models import RescanJob
from apps.discovery.models import DiscoveryRun
from apps.jobs import registry
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project


def running(project: Project, *, silent_s: float, attempt: int = 1, **fields: Any) -> ImportJob:
    job = ImportJob.objects.create(project=project, filename="f.jsonl", path="/nowhere", **fields)
    ImportJob.objects.filter(id=job.id).update(
        status=JobStatus.RUNNING,
        attempt=attempt,
        worker="host:4242",
        started_at=timezone.now() - timedelta(seconds=silent_s),
        heartbeat_at=timezone.now() - timedelta(seconds=silent_s),
    )
    job.refresh_from_db()
    return job


def test_every_job_kind_is_registered() -> None:
    models = {kind.model for kind in registry.kinds()}
    assert {ImportJob, RescanJob, DiscoveryRun} <= models


def test_a_silent_job_is_requeued_and_sent_again(
    project: Project, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = running(project, silent_s=settings.JOB_STALE_S + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert jobs.jobs_sweep() == [str(job.id)]
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.worker == "" and "host:4242 stopped heartbeating" in job.message
    with mock.patch("apps.calls.tasks.import_job_run_task.apply_async") as apply_async:
        for callback in callbacks:
            callback()
    apply_async.assert_called_once_with(args=[str(job.id)])
    # The next claim resumes it as attempt 2.
    claimed = jobs.job_claim(model=ImportJob, job_id=job.id)
    assert claimed is not None and claimed.attempt == 2


def test_a_job_that_still_beats_is_left_alone(project: Project, settings: Any) -> None:
    job = running(project, silent_s=settings.JOB_STALE_S - 5)
    assert jobs.jobs_sweep() == []
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


def test_after_its_last_attempt_a_job_fails_with_a_reason(project: Project, settings: Any) -> None:
    job = running(project, silent_s=settings.JOB_STALE_S + 1, attempt=settings.JOB_MAX_ATTEMPTS)
    assert jobs.jobs_sweep() == [str(job.id)]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert f"on each of {settings.JOB_MAX_ATTEMPTS} attempts" in job.error and "start the upload again" in job.error


def test_a_kind_that_cannot_resume_fails_at_once(project: Project, settings: Any, monkeypatch: Any) -> None:
    kind = registry.kind_for(ImportJob)
    monkeypatch.setitem(registry._KINDS, ImportJob, registry.JobKind(**{**kind.__dict__, "resumable": False}))
    job = running(project, silent_s=settings.JOB_STALE_S + 1)
    jobs.jobs_sweep()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "cannot resume safely" in job.error


def test_a_job_asked_to_cancel_ends_cancelled(project: Project, settings: Any) -> None:
    job = running(project, silent_s=settings.JOB_STALE_S + 1, cancel_requested=True)
    jobs.jobs_sweep()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_requeue_a_job_once(project: Project, settings: Any) -> None:
    job = running(project, silent_s=settings.JOB_STALE_S + 1)
    seen = list(ImportJob.objects.filter(id=job.id))
    with mock.patch("apps.calls.tasks.import_job_run_task.apply_async") as apply_async:
        assert jobs.jobs_sweep() == [str(job.id)]
        # A second sweeper that read the row before the first one changed it wins nothing.
        assert jobs._sweep_one(seen[0], registry.kind_for(ImportJob)) is False
    apply_async.assert_called_once()


def test_the_sweep_runs_on_a_beat_every_heartbeat(settings: Any) -> None:
    from controlplane.celery import app

    entry = app.conf.beat_schedule["jobs-sweep"]
    assert entry["task"] == "jobs.sweep" and entry["schedule"] == float(settings.JOB_HEARTBEAT_S)
    assert "jobs.sweep" in app.tasks


def queued(project: Project, *, age_s: float) -> ImportJob:
    job = ImportJob.objects.create(project=project, filename="f.jsonl", path="/nowhere")
    ImportJob.objects.filter(id=job.id).update(created_at=timezone.now() - timedelta(seconds=age_s))
    return job


def test_a_job_whose_task_cannot_be_sent_is_kept_queued_without_failing_the_caller(
    project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    job = queued(project, age_s=0)
    down = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch("apps.calls.tasks.import_job_run_task.apply_async", side_effect=down) as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.job_enqueue(job=job)
    apply_async.assert_called_once()
    assert registry.sent_marked([str(job.id)]) == [False]
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_a_queued_job_whose_task_was_never_sent_or_was_lost_is_sent_again_once(
    project: Project, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    lost = queued(project, age_s=settings.JOB_STALE_S + 1)
    young = queued(project, age_s=0)  # its send may be on its way
    with mock.patch("apps.calls.tasks.import_job_run_task.apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.jobs_sweep() == []
        apply_async.assert_called_once_with(args=[str(lost.id)])
        assert registry.sent_marked([str(lost.id), str(young.id)]) == [True, False]
        with django_capture_on_commit_callbacks(execute=True):
            jobs.jobs_sweep()
        apply_async.assert_called_once()  # marked sent: not again
