"""Writes for GPU workers: what a worker reports about itself (registration, heartbeats, a clean stop),
the sweep that notices dead workers and requeues their training runs, and the admins' decisions
(drain, resume, concurrency, cancel the current job). The row is the truth: a worker's heartbeat reads
the decisions back from it and applies them to itself (apps/fleet/heartbeat.py)."""

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.errors import Conflict, DomainError, PermissionDenied
from apps.common.ids import as_uuid
from apps.fleet import selectors
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.jobs.services import job_request_cancel
from apps.specialists.models import TrainingRun
from controlplane.celery import app as celery_app

logger = logging.getLogger(__name__)

MAX_CONCURRENCY = 32
TRAIN_TASK = "specialists.train"


# --- what a worker reports ------------------------------------------------------------------------------


@transaction.atomic
def worker_register(
    *, name: str, host: str, queues: list[str], gpus: list[dict[str, Any]], concurrency: int, can_resize: bool
) -> GpuWorker:
    """Upsert the row when a worker starts. An admin's decisions outlive a restart: draining always, and
    the concurrency too when the pool can grow and shrink (the heartbeat resizes it to the row); a pool
    that cannot (solo, threads) records the size it really has."""
    now = timezone.now()
    worker, created = GpuWorker.objects.select_for_update().get_or_create(
        name=name,
        defaults={
            "host": host,
            "queues": queues,
            "gpus": gpus,
            "concurrency": concurrency,
            "started_at": now,
            "heartbeat_at": now,
        },
    )
    if not created:
        worker.host, worker.queues, worker.gpus = host, queues, gpus
        worker.started_at = worker.heartbeat_at = now
        worker.current_job = ""
        if not can_resize:
            worker.concurrency = concurrency
        worker.save()
    logger.info("GPU worker %s registered (queues %s, %d GPU(s))", name, ",".join(queues), len(gpus))
    return worker


def worker_heartbeat(*, name: str, gpus: list[dict[str, Any]]) -> GpuWorker | None:
    """Record a heartbeat with fresh GPU readings and the training run the worker is running.
    None when the row is gone (an admin deleted it): the worker registers again."""
    run = selectors.worker_running_run(name=name)
    updated = GpuWorker.objects.filter(name=name).update(
        gpus=gpus, heartbeat_at=timezone.now(), current_job=str(run.id) if run else ""
    )
    return GpuWorker.objects.filter(name=name).first() if updated else None


def worker_stop(*, name: str) -> None:
    """A clean stop: the row stays (with the admins' decisions), its heartbeat set to STOPPED_AT."""
    GpuWorker.objects.filter(name=name).update(heartbeat_at=selectors.STOPPED_AT, current_job="")
    logger.info("GPU worker %s stopped", name)


# --- the sweep ----------------------------------------------------------------------------------------


def workers_sweep(*, now: datetime | None = None) -> list[str]:
    """Workers silent for longer than STALE_S are offline; each training run still marked running on one
    of them goes back to the queue (or ends, if someone asked to cancel it) and is sent again: the job
    resumes from its checkpoint. The run's own heartbeat must be that old too, so a run that still
    reports progress is left alone. Returns the ids of the runs requeued.

    Safe to run from every worker at once: each run is requeued with a compare-and-set UPDATE on the
    state the sweeper saw, so only one sweeper wins it and only the winner enqueues it."""
    cutoff = selectors.stale_before(now=now)
    gone = list(GpuWorker.objects.filter(heartbeat_at__lt=cutoff).values_list("name", flat=True))
    if not gone:
        return []
    runs = (
        TrainingRun.objects.filter(status=JobStatus.RUNNING)
        .filter(Q(gpu_worker__in=gone) | Q(worker__in=gone))
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        .only("id", "status", "attempt", "worker", "gpu_worker", "heartbeat_at", "cancel_requested", "queue")
    )
    requeued = [str(run.id) for run in runs if _run_requeue(run=run, gone=gone)]
    GpuWorker.objects.filter(name__in=gone, heartbeat_at__lt=cutoff).exclude(current_job="").update(current_job="")
    return requeued


@transaction.atomic
def _run_requeue(*, run: TrainingRun, gone: list[str]) -> bool:
    name = run.gpu_worker if run.gpu_worker in gone else run.worker
    as_seen = TrainingRun.objects.filter(
        id=run.id,
        status=JobStatus.RUNNING,
        attempt=run.attempt,
        worker=run.worker,
        gpu_worker=run.gpu_worker,
        **({"heartbeat_at": run.heartbeat_at} if run.heartbeat_at else {"heartbeat_at__isnull": True}),
    )
    if run.cancel_requested:
        as_seen.update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            message=f"Cancelled: worker {name} stopped before the run could stop itself",
        )
        return False
    if not as_seen.update(
        status=JobStatus.QUEUED, message=f"Requeued: worker {name} stopped heartbeating", worker="", gpu_worker=""
    ):
        return False
    run_id, queue = str(run.id), run.queue
    transaction.on_commit(lambda: celery_app.send_task(TRAIN_TASK, args=[run_id], queue=queue))
    logger.warning("Training run %s requeued: worker %s stopped heartbeating", run_id, name)
    return True


# --- admins' decisions --------------------------------------------------------------------------------


def _require_admin(user: User | AnonymousUser) -> None:
    if not selectors.user_may_manage_workers(user=user):
        raise PermissionDenied("Only staff or a project admin can manage GPU workers")


@transaction.atomic
def _draining_set(name: str, by: User | AnonymousUser, draining: bool) -> GpuWorker:
    _require_admin(by)
    worker = selectors.worker_get(name=name)
    GpuWorker.objects.filter(name=name).update(draining=draining)
    worker.draining = draining
    logger.info("GPU worker %s %s by %s", name, "drained" if draining else "resumed", by.get_username())
    return worker


def worker_drain(*, name: str, by: User | AnonymousUser) -> GpuWorker:
    """Stop taking new jobs; the current one finishes. The worker stops consuming at its next heartbeat."""
    return _draining_set(name, by, True)


def worker_resume(*, name: str, by: User | AnonymousUser) -> GpuWorker:
    return _draining_set(name, by, False)


@transaction.atomic
def worker_concurrency_set(*, name: str, concurrency: int, by: User | AnonymousUser) -> GpuWorker:
    """How many jobs the worker runs at once. A prefork worker grows or shrinks its pool at its next
    heartbeat; a solo or threads pool cannot, and takes the number at its next start as a prefork pool."""
    _require_admin(by)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise DomainError(
            f"Concurrency is a whole number from 1 to {MAX_CONCURRENCY}",
            code="invalid_concurrency",
            field="concurrency",
        )
    worker = selectors.worker_get(name=name)
    GpuWorker.objects.filter(name=name).update(concurrency=concurrency)
    worker.concurrency = concurrency
    logger.info("GPU worker %s concurrency set to %d by %s", name, concurrency, by.get_username())
    return worker


def worker_job_cancel(*, name: str, by: User | AnonymousUser) -> TrainingRun:
    """Ask the worker's current training run to stop (at its next progress report)."""
    _require_admin(by)
    worker = selectors.worker_get(name=name)
    uid = as_uuid(worker.current_job)
    run = TrainingRun.objects.filter(id=uid).first() if uid else None
    if run is None or run.is_terminal:
        run = selectors.worker_running_run(name=name)
    if run is None:
        raise Conflict(f"{name} is not running a training run")
    job_request_cancel(job=run)
    logger.info("Training run %s on %s: cancel requested by %s", run.id, name, by.get_username())
    return run
