from celery import shared_task

from apps.discovery import pipeline, services


@shared_task(name="discovery.run", acks_late=True)
def discovery_run_execute_task(run_id: str) -> None:
    """One discovery or split run. A re-delivered message finds the run claimed or done and returns."""
    pipeline.discovery_run_execute(run_id=run_id)


@shared_task(name="discovery.assign", acks_late=True)
def calls_assign_task(project_id: str) -> None:
    """New calls to the current tasks. Idempotent: only calls not assigned yet are looked at."""
    services.calls_assign_all(project_id=project_id)
