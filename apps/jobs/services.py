"""The job pattern: claim with compare-and-set, report progress and heartbeat, end in one terminal state."""

import os
import socket
from datetime import timedelta
from uuid import UUID

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.jobs.models import Job, JobStatus


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_claim(*, model: type[Job], job_id: UUID | str) -> Job | None:
    """Take a queued job (or resume a running one whose worker vanished). None: someone else has it."""
    now = timezone.now()
    stale = now - timedelta(minutes=5)
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
    updated = model._default_manager.filter(claimable, id=job_id, cancel_requested=False).update(
        status=JobStatus.RUNNING,
        worker=worker_name(),
        heartbeat_at=now,
        started_at=now,
        attempt=models.F("attempt") + 1,
        error="",
    )
    if not updated:
        return None
    return model._default_manager.get(id=job_id)


def job_progress(*, job: Job, fraction: float, stage: str = "", message: str = "", **fields: object) -> bool:
    """Record progress and a heartbeat. Returns False when cancellation was asked for."""
    now = timezone.now()
    job.progress = max(0.0, min(1.0, fraction))
    job.heartbeat_at = now
    updates: dict[str, object] = {"progress": job.progress, "heartbeat_at": now, **fields}
    if stage:
        job.stage = stage
        updates["stage"] = stage
    if message:
        job.message = message[:500]
        updates["message"] = job.message
    for name, value in fields.items():
        setattr(job, name, value)
    type(job)._default_manager.filter(id=job.id).update(**updates)
    return not type(job)._default_manager.filter(id=job.id, cancel_requested=True).exists()


def _finish(job: Job, status: str, **fields: object) -> None:
    now = timezone.now()
    updates = {"status": status, "finished_at": now, "heartbeat_at": now, **fields}
    type(job)._default_manager.filter(id=job.id).update(**updates)
    for name, value in updates.items():
        setattr(job, name, value)


def job_succeed(*, job: Job, message: str = "") -> None:
    _finish(job, JobStatus.SUCCEEDED, progress=1.0, stage="done", message=message[:500])


def job_fail(*, job: Job, error: str) -> None:
    _finish(job, JobStatus.FAILED, error=error)


def job_cancelled(*, job: Job) -> None:
    _finish(job, JobStatus.CANCELLED, message="Cancelled on request")


def job_request_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next progress report."""
    model = type(job)
    model._default_manager.filter(id=job.id, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        message="Cancelled before it started",
    )
    model._default_manager.filter(id=job.id, status=JobStatus.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job
