"""Reads for the GPU workers page and API: who may manage workers, and each worker's status."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q
from django.utils import timezone

from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import ROLE_ABILITIES, Membership
from apps.specialists.models import TrainingRun

# Seconds between a live worker's heartbeats, and the age after which it counts as gone (its running
# training run is requeued). Read from settings so a test worker can beat faster.
HEARTBEAT_S: int = getattr(settings, "FLEET_HEARTBEAT_S", 15)
STALE_S: int = getattr(settings, "FLEET_STALE_S", 60)
# A worker that stopped cleanly has its heartbeat set to this instant: offline at once, and told apart
# from one that died (whose last heartbeat is kept).
STOPPED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class WorkerStatus:
    ONLINE = "online"
    DRAINING = "draining"
    STALE = "stale"
    OFFLINE = "offline"


def user_may_manage_workers(*, user: User | AnonymousUser) -> bool:
    """GPU workers are shared by every project and there is no global role, so the rule is: staff and
    superusers, and anyone who is an admin of at least one project (the role with "manage_workers")."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    roles = [role for role, abilities in ROLE_ABILITIES.items() if "manage_workers" in abilities]
    return Membership.objects.filter(user=user, role__in=roles).exists()


def worker_status(*, worker: GpuWorker, now: datetime | None = None) -> str:
    """online: heartbeats arrive; stale: it missed two or more (soon requeued); offline: gone for longer
    than STALE_S, or stopped. A live worker that an admin drained is "draining"."""
    age = ((now or timezone.now()) - worker.heartbeat_at).total_seconds()
    if age > STALE_S:
        return WorkerStatus.OFFLINE
    if age > 2 * HEARTBEAT_S:
        return WorkerStatus.STALE
    return WorkerStatus.DRAINING if worker.draining else WorkerStatus.ONLINE


@dataclass
class WorkerRow:
    worker: GpuWorker
    status: str
    heartbeat_age_s: float | None  # None: it stopped cleanly
    run: TrainingRun | None  # the training run it is running, when that run exists

    @property
    def stopped(self) -> bool:
        return self.heartbeat_age_s is None

    @property
    def run_path(self) -> str:
        if self.run is None:
            return ""
        return f"/p/{self.run.project.slug}/specialists/runs/{self.run.id}/"


def _row(worker: GpuWorker, runs: dict[str, TrainingRun], now: datetime) -> WorkerRow:
    stopped = worker.heartbeat_at <= STOPPED_AT
    return WorkerRow(
        worker=worker,
        status=worker_status(worker=worker, now=now),
        heartbeat_age_s=None if stopped else max(0.0, (now - worker.heartbeat_at).total_seconds()),
        run=runs.get(str(as_uuid(worker.current_job))),
    )


def _runs_by_id(ids: list[str]) -> dict[str, TrainingRun]:
    wanted = [uid for uid in map(as_uuid, ids) if uid is not None]
    if not wanted:
        return {}
    return {str(run.id): run for run in TrainingRun.objects.filter(id__in=wanted).select_related("project")}


def worker_list() -> list[WorkerRow]:
    """Every registered worker, live ones first."""
    now = timezone.now()
    workers = list(GpuWorker.objects.all())
    runs = _runs_by_id([w.current_job for w in workers])
    rows = [_row(w, runs, now) for w in workers]
    order = {WorkerStatus.ONLINE: 0, WorkerStatus.DRAINING: 0, WorkerStatus.STALE: 1, WorkerStatus.OFFLINE: 2}
    rows.sort(key=lambda row: (order[row.status], row.worker.name))
    return rows


def worker_get(*, name: str) -> GpuWorker:
    worker = GpuWorker.objects.filter(name=name).first()
    if worker is None:
        raise NotFound(f"No GPU worker named {name}")
    return worker


def worker_running_run(*, name: str) -> TrainingRun | None:
    """The training run a worker is running now: TrainingRun.gpu_worker holds the worker's node name;
    Job.worker (host:pid) matches too, for a worker registered under that name."""
    return (
        TrainingRun.objects.filter(status=JobStatus.RUNNING)
        .filter(Q(gpu_worker=name) | Q(worker=name))
        .order_by("-started_at")
        .first()
    )


def stale_before(*, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=STALE_S)
