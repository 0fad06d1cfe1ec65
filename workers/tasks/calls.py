from celery import shared_task

from apps.calls import services


@shared_task(name="calls.import_file", acks_late=True)
def import_job_run_task(job_id: str) -> None:
    """Import an uploaded JSONL file. Idempotent (resumes, duplicates are skipped), hence acks_late."""
    services.import_job_run(job_id=job_id)
