"""Every write a worker makes to its job row is fenced by the attempt it claimed and the row still running."""

from datetime import timedelta

from django.utils import timezone

from apps.calls.models import ImportJob
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project


def new_job(project: Project) -> ImportJob:
    return ImportJob.objects.create(project=project, filename="f.jsonl", path="/nowhere")


def go_stale(job: ImportJob) -> None:
    ImportJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))


def test_a_second_delivery_cannot_claim_a_running_job_and_the_first_finishes(project: Project) -> None:
    first = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    assert first is not None
    assert jobs.job_claim(model=ImportJob, job_id=first.id) is None
    assert jobs.job_progress(job=first, fraction=0.5, message="half") is True
    assert jobs.job_succeed(job=first, message="done") is True
    stored = ImportJob.objects.get(id=first.id)
    assert (stored.status, stored.attempt, stored.message) == (JobStatus.SUCCEEDED, 1, "done")


def test_after_a_takeover_the_stale_workers_writes_are_refused_and_the_new_one_finishes(project: Project) -> None:
    stale = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    assert stale is not None
    go_stale(stale)
    fresh = jobs.job_claim(model=ImportJob, job_id=stale.id)
    assert fresh is not None and fresh.attempt == 2
    assert jobs.job_progress(job=fresh, fraction=0.3, message="fresh", accepted=3) is True

    # The stale worker wakes up: its progress, heartbeat and final state are all refused.
    assert jobs.job_progress(job=stale, fraction=0.9, message="stale", accepted=99) is False
    assert jobs.job_heartbeat(job=stale) is False
    assert jobs.job_fail(job=stale, error="stale worker's error") is False
    assert jobs.job_succeed(job=stale, message="stale worker done") is False
    stored = ImportJob.objects.get(id=stale.id)
    assert (stored.status, stored.progress, stored.message, stored.accepted) == (JobStatus.RUNNING, 0.3, "fresh", 3)

    assert jobs.job_succeed(job=fresh, message="fresh done") is True
    stored.refresh_from_db()
    assert (stored.status, stored.message, stored.error, stored.attempt) == (JobStatus.SUCCEEDED, "fresh done", "", 2)


def test_a_finished_job_takes_no_more_writes(project: Project) -> None:
    job = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    assert job is not None and jobs.job_fail(job=job, error="disk full")
    assert jobs.job_progress(job=job, fraction=0.5) is False
    assert jobs.job_succeed(job=job) is False
    stored = ImportJob.objects.get(id=job.id)
    assert (stored.status, stored.error, stored.progress) == (JobStatus.FAILED, "disk full", 0.0)


def test_heartbeats_from_a_thread_keep_a_long_step_alive(project: Project, settings: object) -> None:
    job = jobs.job_claim(model=ImportJob, job_id=new_job(project).id)
    assert job is not None
    before = ImportJob.objects.get(id=job.id).heartbeat_at
    assert jobs.job_heartbeat(job=job) is True
    after = ImportJob.objects.get(id=job.id).heartbeat_at
    assert before is not None and after is not None and after > before
    jobs.job_request_cancel(job=job)
    assert jobs.job_heartbeat(job=job) is False  # the body learns of the cancel at its next beat
