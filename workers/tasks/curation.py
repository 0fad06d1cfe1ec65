from celery import shared_task

from apps.curation import services


@shared_task(name="curation.rescan", acks_late=True)
def rescan_job_run_task(job_id: str) -> None:
    """Re-scan calls stored under an older policy. Idempotent (a call at the job's version is skipped)."""
    services.rescan_job_run(job_id=job_id)
