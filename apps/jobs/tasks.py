from celery import shared_task

from apps.jobs import services


@shared_task(name="jobs.sweep")
def jobs_sweep_task() -> list[str]:
    """Requeue or fail the jobs whose worker is gone; Celery beat runs it every JOB_HEARTBEAT_S."""
    return services.jobs_sweep()
