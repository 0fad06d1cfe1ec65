"""The job pattern: claim with compare-and-set, report progress and heartbeat, end in one terminal state.

Every write a worker makes after its claim is fenced: it applies only while the row is still running
under the attempt that worker claimed. A worker whose write is refused has lost the job (the sweep
requeued it, or another worker took it over) and stops; its late writes never overwrite the new
attempt's progress or final state."""

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import redis
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.jobs import registry
from apps.jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)

J = TypeVar("J", bound=Job)


def worker_name() -> str:
    """Who runs a job: the Celery worker's node name (as the workers page lists it) and the process id,
    or the host name outside a Celery task (a management command running a job in place)."""
    from celery import current_task

    node = getattr(getattr(current_task, "request", None), "hostname", None) if current_task else None
    return f"{node or socket.gethostname()}:{os.getpid()}"


def stale_before(*, now: datetime | None = None) -> datetime:
    """A running job whose last heartbeat is older than this has lost its worker."""
    return (now or timezone.now()) - timedelta(seconds=settings.JOB_STALE_S)


def _manager(model: type[Job]) -> Any:
    return model._default_manager


def _fenced(job: Job) -> QuerySet[Any]:
    """The row as long as this worker still holds it: running, under the attempt it claimed."""
    return _manager(type(job)).filter(id=job.id, status=JobStatus.RUNNING, attempt=job.attempt)


def job_claim(*, model: type[Job], job_id: UUID | str) -> Job | None:
    """Take a queued job (or a running one whose worker stopped heartbeating). None: someone else has it.
    The claim raises the attempt, which fences every later write of an earlier claimant."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale_before(now=now))
    updated = (
        _manager(model)
        .filter(claimable, id=job_id, cancel_requested=False)
        .update(
            status=JobStatus.RUNNING,
            worker=worker_name(),
            heartbeat_at=now,
            started_at=now,
            attempt=models.F("attempt") + 1,
            error="",
        )
    )
    if not updated:
        return None
    job: Job = _manager(model).get(id=job_id)
    return job


def job_heartbeat(*, job: Job) -> bool:
    """Record that the worker is alive. False: the job was lost or cancellation was asked for."""
    now = timezone.now()
    if not _fenced(job).update(heartbeat_at=now):
        return False
    job.heartbeat_at = now
    return not _manager(type(job)).filter(id=job.id, cancel_requested=True).exists()


def job_progress(*, job: Job, fraction: float, stage: str = "", message: str = "", **fields: object) -> bool:
    """Record progress and a heartbeat. False when cancellation was asked for, or when this worker no
    longer holds the job (its write was refused): either way the caller stops."""
    now = timezone.now()
    updates: dict[str, object] = {"progress": max(0.0, min(1.0, fraction)), "heartbeat_at": now, **fields}
    if stage:
        updates["stage"] = stage
    if message:
        updates["message"] = message[:500]
    if not _fenced(job).update(**updates):
        logger.warning("%s %s: progress refused, the job is no longer ours", type(job).__name__, job.id)
        return False
    for name, value in updates.items():
        setattr(job, name, value)
    return not _manager(type(job)).filter(id=job.id, cancel_requested=True).exists()


def _finish(job: Job, status: str, **fields: object) -> bool:
    now = timezone.now()
    updates = {"status": status, "finished_at": now, "heartbeat_at": now, **fields}
    if not _fenced(job).update(**updates):
        # No refresh_from_db here: it would load the new attempt and let this worker's later writes through.
        logger.warning("%s %s: final state %s refused, the job is no longer ours", type(job).__name__, job.id, status)
        return False
    for name, value in updates.items():
        setattr(job, name, value)
    return True


def job_succeed(*, job: Job, message: str = "", **fields: object) -> bool:
    return _finish(job, JobStatus.SUCCEEDED, progress=1.0, stage="done", message=message[:500], **fields)


def job_fail(*, job: Job, error: str, **fields: object) -> bool:
    return _finish(job, JobStatus.FAILED, error=error, **fields)


def job_cancelled(*, job: Job) -> bool:
    return _finish(job, JobStatus.CANCELLED, message="Cancelled on request")


def job_request_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next progress report."""
    model = _manager(type(job))
    model.filter(id=job.id, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        message="Cancelled before it started",
    )
    model.filter(id=job.id, status=JobStatus.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job


def job_enqueue(*, job: Job) -> None:
    """Send the job's task once the surrounding transaction commits: the one way work is enqueued."""
    registry.kind_for(type(job)).enqueue(job)


@contextmanager
def job_heartbeats(*, job: Job) -> Iterator[threading.Event]:
    """Beat the job's heartbeat from a thread while the body runs, so a long step without progress
    reports (loading a model, one big query) does not look like a dead worker. The yielded event is set
    when a beat is refused or cancellation is asked for; the body may check it between steps."""
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOB_HEARTBEAT_S):
                if not job_heartbeat(job=job):
                    lost.set()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=1)  # a daemon: a beat stuck on a lock must not hold the job up


def job_run(*, model: type[J], job_id: UUID | str, execute: Callable[[J], None]) -> None:
    """The body of every job task: claim the job (a re-delivered message finds it taken and returns), then
    run `execute` while a thread beats its heartbeat."""
    job = job_claim(model=model, job_id=job_id)
    if job is None:
        return
    assert isinstance(job, model)
    with job_heartbeats(job=job):
        execute(job)


# --- the sweep ----------------------------------------------------------------------------------------


def _gone_message(job: Job, kind: registry.JobKind) -> tuple[str, str]:
    who = job.worker or "its worker"
    if job.cancel_requested:
        return JobStatus.CANCELLED, f"Cancelled: {who} stopped before the job could stop itself"
    if kind.resumable and job.attempt < settings.JOB_MAX_ATTEMPTS:
        return JobStatus.QUEUED, f"Requeued after {who} stopped heartbeating (attempt {job.attempt})"
    if kind.resumable:
        return JobStatus.FAILED, (
            f"{who} stopped heartbeating on each of {job.attempt} attempts (killed, or out of memory?). "
            f"Check the worker's log, then start the {kind.label} again."
        )
    return JobStatus.FAILED, (
        f"{who} stopped heartbeating (killed, or out of memory?) and a {kind.label} cannot resume safely. "
        f"Start it again."
    )


def jobs_sweep(*, now: datetime | None = None) -> list[str]:
    """Every job kind: a running job whose heartbeat is older than JOB_STALE_S has lost its worker. It
    goes back to the queue when its kind resumes safely (and it has attempts left), else it fails with a
    message a person can act on; a job someone asked to cancel ends cancelled. Returns the ids changed.

    Safe to run from many processes at once: each row changes by a compare-and-set UPDATE on the state
    the sweeper saw (its attempt and heartbeat), so one sweeper wins it and only the winner enqueues."""
    cutoff = stale_before(now=now)
    changed: list[str] = []
    for kind in registry.kinds():
        stale = (
            _manager(kind.model)
            .filter(status=JobStatus.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        )
        for job in stale:
            if _sweep_one(job, kind):
                changed.append(str(job.id))
        _send_unsent(kind, cutoff)
    return changed


def _send_unsent(kind: registry.JobKind, cutoff: datetime) -> None:
    """Queued jobs older than `cutoff` whose message is not marked sent (the send failed, or Redis lost it
    when it restarted) are sent again. Redis down: nothing to do until it answers."""
    queued = list(_manager(kind.model).filter(status=JobStatus.QUEUED, created_at__lt=cutoff)[:500])
    if not queued:
        return
    try:
        marked = registry.sent_marked([str(job.id) for job in queued])
    except redis.RedisError as exc:
        logger.warning("sweep: cannot tell which queued %ss were sent (%s)", kind.label, exc)
        return
    for job, sent in zip(queued, marked, strict=True):
        if not sent:
            logger.warning(
                "%s %s: its task was never sent or was lost by the broker; sending it again", kind.label, job.id
            )
            kind.enqueue(job)


@transaction.atomic
def _sweep_one(job: Job, kind: registry.JobKind) -> bool:
    status, message = _gone_message(job, kind)
    as_seen = _manager(type(job)).filter(
        id=job.id, status=JobStatus.RUNNING, attempt=job.attempt, heartbeat_at=job.heartbeat_at
    )
    updates: dict[str, object] = {"status": status, "message": message[:500]}
    if status == JobStatus.QUEUED:
        updates.update(worker="", stage="queued", heartbeat_at=None)
    else:
        updates.update(finished_at=timezone.now())
        if status == JobStatus.FAILED:
            updates["error"] = message
    updates.update(kind.on_requeue if status == JobStatus.QUEUED else {})
    if not as_seen.update(**updates):
        return False
    logger.warning("%s %s: %s", type(job).__name__, job.id, message)
    if status == JobStatus.QUEUED:
        job.refresh_from_db()
        job_enqueue(job=job)
    return True
