"""Celery tasks for curation: thin (fetch by id, call one service); the re-scan job kind is registered here."""

from celery import shared_task

from apps.curation import services
from apps.curation.models import RescanJob
from apps.jobs.registry import JobKind, job_kind_register


@shared_task(name="curation.rescan", acks_late=True, reject_on_worker_lost=True)
def rescan_job_run_task(job_id: str) -> None:
    """Re-scan calls stored under an older policy. Idempotent (a call at the job's version is skipped)."""
    services.rescan_job_run(job_id=job_id)


job_kind_register(JobKind(model=RescanJob, task=rescan_job_run_task, resumable=True, label="re-scan"))
