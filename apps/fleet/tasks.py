"""Fleet has no tasks of its own: importing this module (Celery autodiscovers it in every worker) connects
the worker's registration and heartbeat to Celery's signals. A dead worker's job is requeued by the one
jobs sweep (apps/jobs/tasks.py, `jobs.sweep`)."""

from apps.fleet import heartbeat

__all__ = ["heartbeat"]
