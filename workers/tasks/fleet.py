"""Celery tasks for fleet. Importing this module (every worker does at start) connects the worker's
registration and heartbeat to Celery's signals."""

from celery import shared_task

from apps.fleet import heartbeat, services

__all__ = ["heartbeat", "workers_sweep_task"]


@shared_task(name="fleet.sweep")
def workers_sweep_task() -> list[str]:
    """The stale-worker sweep, for a celery beat schedule; live workers also run it with each heartbeat."""
    return services.workers_sweep()
