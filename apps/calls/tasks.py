"""Celery tasks for calls: thin (fetch by id, call one service); each job kind is registered here."""

from celery import shared_task

from apps.calls import services
from apps.calls.models import ImportJob, RepriceJob
from apps.jobs.registry import JobKind, job_kind_register


@shared_task(name="calls.import_file", acks_late=True, reject_on_worker_lost=True)
def import_job_run_task(job_id: str) -> None:
    """Import an uploaded JSONL file. Idempotent (resumes, duplicates are skipped), hence acks_late."""
    services.import_job_run(job_id=job_id)


@shared_task(name="calls.reprice", acks_late=True, reject_on_worker_lost=True)
def reprice_job_run_task(job_id: str) -> None:
    """Re-price stored calls. Idempotent: the same prices give the same costs."""
    services.reprice_job_run(job_id=job_id)


job_kind_register(JobKind(model=ImportJob, task=import_job_run_task, resumable=True, label="upload"))
job_kind_register(JobKind(model=RepriceJob, task=reprice_job_run_task, resumable=True, label="re-pricing"))
