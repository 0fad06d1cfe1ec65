"""Writes for GPU workers: what a worker reports about itself (registration, heartbeats, the job it
runs, a clean stop) and the admins' decisions (drain, resume, concurrency, cancel the current job). The
row is the truth: a worker's heartbeat reads the decisions back from it and applies them to itself
(apps/fleet/heartbeat.py). A worker that dies simply stops heartbeating: the jobs sweep (apps.jobs)
requeues its job, and the worker reads as offline, running nothing (selectors.WorkerRow)."""

import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from apps.common.errors import DomainError, PermissionDenied
from apps.fleet import selectors
from apps.fleet.models import GpuWorker
from apps.specialists import services as specialists

if TYPE_CHECKING:
    from apps.specialists.models import TrainingRun

logger = logging.getLogger(__name__)

MAX_CONCURRENCY = 32


# --- what a worker reports ------------------------------------------------------------------------------


@transaction.atomic
def worker_register(
    *,
    name: str,
    host: str,
    queues: list[str],
    gpus: list[dict[str, Any]],
    concurrency: int,
    can_resize: bool,
    weights: dict[str, Any] | None = None,
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
            "weights": weights or {},
            "concurrency": concurrency,
            "started_at": now,
            "heartbeat_at": now,
        },
    )
    if not created:
        worker.host, worker.queues, worker.gpus, worker.weights = host, queues, gpus, weights or {}
        worker.started_at = worker.heartbeat_at = now
        worker.current_job = ""
        if not can_resize:
            worker.concurrency = concurrency
        worker.save()
    logger.info("GPU worker %s registered (queues %s, %d GPU(s))", name, ",".join(queues), len(gpus))
    return worker


def worker_heartbeat(
    *, name: str, gpus: list[dict[str, Any]], current_job: str, weights: dict[str, Any] | None = None
) -> GpuWorker | None:
    """Record a heartbeat with fresh GPU readings, the job the worker is running and, when given, the
    weights it has. None when the row is gone (an admin deleted it): the worker registers again."""
    fields: dict[str, Any] = {"gpus": gpus, "heartbeat_at": timezone.now(), "current_job": current_job}
    if weights is not None:
        fields["weights"] = weights
    updated = GpuWorker.objects.filter(name=name).update(**fields)
    return GpuWorker.objects.filter(name=name).first() if updated else None


def worker_job_started(*, name: str, job_id: UUID | str) -> None:
    """Show the job on the worker's row at once (its heartbeat would, within JOB_HEARTBEAT_S)."""
    GpuWorker.objects.filter(name=name).update(current_job=str(job_id))


def worker_job_finished(*, name: str, job_id: UUID | str) -> None:
    GpuWorker.objects.filter(name=name, current_job=str(job_id)).update(current_job="")


def worker_stop(*, name: str) -> None:
    """A clean stop: the row stays (with the admins' decisions), its heartbeat set to STOPPED_AT."""
    GpuWorker.objects.filter(name=name).update(heartbeat_at=selectors.STOPPED_AT, current_job="")
    logger.info("GPU worker %s stopped", name)


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


def worker_job_cancel(*, name: str, by: User | AnonymousUser) -> "TrainingRun":
    """Ask the worker's current training run to stop (at its next progress report); the run is
    specialists' row, so specialists cancels it. Returns the run."""
    _require_admin(by)
    worker = selectors.worker_get(name=name)
    run = specialists.training_run_cancel_on_worker(worker_name=name, job_id=worker.current_job)
    logger.info("Training run %s on %s: cancel requested by %s", run.id, name, by.get_username())
    return run
