"""Reads across every job kind."""

from apps.jobs import registry
from apps.jobs.models import Job, JobStatus


def job_running_on(*, worker: str) -> tuple[str, Job] | None:
    """The job a Celery worker (its node name) runs now, of any kind, with its kind's label; None when idle."""
    found: list[tuple[str, Job]] = []
    for kind in registry.kinds():
        job = (
            kind.model._default_manager.filter(status=JobStatus.RUNNING, worker__startswith=f"{worker}:")
            .order_by("-started_at")
            .first()
        )
        if job is not None:
            found.append((kind.label, job))
    return max(found, key=lambda item: item[1].started_at or item[1].created_at) if found else None
