"""The job pattern, on the upload job's row."""

from datetime import timedelta

from django.utils import timezone

from apps.calls.models import ImportJob
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project


def new_job(project: Project) -> ImportJob:
    return ImportJob.objects.create(project=project, filename="f.jsonl", path="/nowhere")


def test_a_job_is_claimed_once(project: Project) -> None:
    job = new_job(project)
    claimed = jobs.job_claim(model=ImportJob, job_id=job.id)
    assert claimed is not None and claimed.status == JobStatus.RUNNING and claimed.attempt == 1
    assert jobs.job_claim(model=ImportJob, job_id=job.id) is None


def test_a_running_job_with_a_stale_heartbeat_can_be_taken_over(project: Project) -> None:
    job = new_job(project)
    jobs.job_claim(model=ImportJob, job_id=job.id)
    ImportJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    again = jobs.job_claim(model=ImportJob, job_id=job.id)
    assert again is not None and again.attempt == 2


def test_progress_reports_cancellation(project: Project) -> None:
    job = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    assert job is not None
    assert jobs.job_progress(job=job, fraction=0.5, stage="importing", message="half") is True
    jobs.job_request_cancel(job=job)
    assert jobs.job_progress(job=job, fraction=0.6) is False
    stored = ImportJob.objects.get(id=job.id)
    assert stored.progress == 0.6 and stored.stage == "importing" and stored.heartbeat_at is not None


def test_cancelling_a_queued_job_ends_it_at_once(project: Project) -> None:
    job = jobs.job_request_cancel(job=new_job(project))
    assert job.status == JobStatus.CANCELLED
    assert jobs.job_claim(model=ImportJob, job_id=job.id) is None


def test_terminal_states(project: Project) -> None:
    done = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    failed = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    assert done is not None and failed is not None
    jobs.job_succeed(job=done, message="ok")
    jobs.job_fail(job=failed, error="disk full")
    done.refresh_from_db()
    failed.refresh_from_db()
    assert (done.status, done.progress, done.is_terminal) == (JobStatus.SUCCEEDED, 1.0, True)
    assert (failed.status, failed.error) == (JobStatus.FAILED, "disk full")
