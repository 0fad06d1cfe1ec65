"""Reads for the GPU workers page and API, and for the apps that send work to workers: who may manage
workers, each worker's status, and the workers that consume a queue."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone

from apps.common.errors import NotFound
from apps.fleet.models import GpuWorker

# A worker that stopped cleanly has its heartbeat set to this instant: offline at once, and told apart
# from one that died (whose last heartbeat is kept).
STOPPED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class WorkerStatus:
    ONLINE = "online"
    DRAINING = "draining"
    STALE = "stale"
    OFFLINE = "offline"


def user_may_manage_workers(*, user: User | AnonymousUser) -> bool:
    """GPU workers belong to the installation, not to a project: they run every project's jobs, so only site
    administrators (staff and superusers) see and manage them. A project's admins see their own project's
    jobs, with the worker that runs each, on the job pages."""
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def worker_status(*, worker: GpuWorker, now: datetime | None = None) -> str:
    """online: heartbeats arrive; stale: it missed two or more; offline: silent for longer than
    JOB_STALE_S (its jobs are requeued by the jobs sweep), or stopped. A live worker an admin drained
    is "draining". The same two settings as every job's heartbeat."""
    age = ((now or timezone.now()) - worker.heartbeat_at).total_seconds()
    if age > settings.JOB_STALE_S:
        return WorkerStatus.OFFLINE
    if age > 2 * settings.JOB_HEARTBEAT_S:
        return WorkerStatus.STALE
    return WorkerStatus.DRAINING if worker.draining else WorkerStatus.ONLINE


def worker_is_live(*, worker: GpuWorker, now: datetime | None = None) -> bool:
    return worker_status(worker=worker, now=now) != WorkerStatus.OFFLINE


@dataclass
class WorkerRow:
    worker: GpuWorker
    status: str
    heartbeat_age_s: float | None  # None: it stopped cleanly

    @property
    def stopped(self) -> bool:
        return self.heartbeat_age_s is None

    @property
    def current_job(self) -> str:
        """The job it runs now; an offline worker runs nothing (the jobs sweep requeued its job)."""
        return "" if self.status == WorkerStatus.OFFLINE else self.worker.current_job


def _row(worker: GpuWorker, now: datetime) -> WorkerRow:
    stopped = worker.heartbeat_at <= STOPPED_AT
    return WorkerRow(
        worker=worker,
        status=worker_status(worker=worker, now=now),
        heartbeat_age_s=None if stopped else max(0.0, (now - worker.heartbeat_at).total_seconds()),
    )


def worker_list() -> list[WorkerRow]:
    """Every registered worker, live ones first."""
    now = timezone.now()
    rows = [_row(w, now) for w in GpuWorker.objects.all()]
    order = {WorkerStatus.ONLINE: 0, WorkerStatus.DRAINING: 0, WorkerStatus.STALE: 1, WorkerStatus.OFFLINE: 2}
    rows.sort(key=lambda row: (order[row.status], row.worker.name))
    return rows


def worker_get(*, name: str) -> GpuWorker:
    worker = GpuWorker.objects.filter(name=name).first()
    if worker is None:
        raise NotFound(f"No GPU worker named {name}")
    return worker


def worker_find(*, name: str) -> GpuWorker | None:
    return GpuWorker.objects.filter(name=name).first()


def workers_on_queue(*, queue: str) -> list[GpuWorker]:
    """Every registered worker that consumes `queue`, live or not."""
    return list(GpuWorker.objects.filter(queues__contains=[queue]))


START_WORKER = "start one with `celery -A controlplane worker -Q {queue}` (see README)"


def queue_wait_note(*, queue: str) -> str:
    """Why a job queued on `queue` cannot start now for want of a worker: none takes the queue, none of
    those is online, or every one is draining. "" when some worker can take it."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return ""
    start = START_WORKER.format(queue=queue)
    workers = workers_on_queue(queue=queue)
    if not workers:
        return f"Waiting: no worker takes the {queue} queue; {start}."
    live = [w for w in workers if worker_is_live(worker=w)]
    if not live:
        names = ", ".join(w.name for w in workers)
        return f"Waiting: no worker on the {queue} queue is online ({names} stopped or went silent); {start}."
    if all(w.draining for w in live):
        names = ", ".join(w.name for w in live)
        return f"Waiting: every worker on the {queue} queue is draining ({names}); resume one on the GPU workers page."
    return ""


def largest_gpu_mb() -> int | None:
    """The most memory on any one GPU of the registered workers (a job runs on one GPU)."""
    return max((w.largest_gpu_mb for w in GpuWorker.objects.only("gpus")), default=0) or None
