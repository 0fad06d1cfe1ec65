from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.discovery.models import TaskCluster
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import TrainingDataset, TrainingRun

H200 = {"index": 0, "name": "NVIDIA H200", "memory_total_mb": 143771, "memory_used_mb": 20480, "utilization": 37}


@pytest.fixture
def site_admin(make_user: Callable[..., User]) -> User:
    """A site administrator (staff): workers belong to the installation, and only staff manage them."""
    return make_user("site-admin", is_staff=True)


@pytest.fixture
def make_worker(db: None) -> Callable[..., GpuWorker]:
    def make(name: str = "celery@gpu-1", age_s: float = 0, **fields: Any) -> GpuWorker:
        now = timezone.now()
        defaults: dict[str, Any] = {
            "host": name.split("@")[-1],
            "queues": ["gpu"],
            "gpus": [H200],
            "concurrency": 1,
            "started_at": now - timedelta(hours=1),
            "heartbeat_at": now - timedelta(seconds=age_s),
        }
        return GpuWorker.objects.create(name=name, **{**defaults, **fields})

    return make


@pytest.fixture
def make_run(db: None) -> Callable[..., TrainingRun]:
    """A training run with the rows it needs (a task cluster and a dataset), made directly."""
    numbers = iter(range(1, 1000))

    def make(project: Project, **fields: Any) -> TrainingRun:
        cluster = TaskCluster.objects.create(project=project, number=next(numbers), name="Ticket triage")
        dataset = TrainingDataset.objects.create(project=project, cluster=cluster)
        defaults: dict[str, Any] = {"status": JobStatus.QUEUED, "queue": "gpu"}
        return TrainingRun.objects.create(project=project, cluster=cluster, dataset=dataset, **{**defaults, **fields})

    return make


class PreforkLikePool:
    """Stands in for the prefork pool: it can grow and shrink."""

    def __init__(self, processes: int) -> None:
        self.num_processes = processes

    def grow(self, n: int = 1) -> None:
        self.num_processes += n

    def shrink(self, n: int = 1) -> None:
        self.num_processes -= n


def fake_consumer(name: str = "celery@gpu-1", queues: tuple[str, ...] = ("gpu",), pool: Any = None) -> Any:
    """What worker_ready sends: the Consumer, with its app (remote control mocked), node name and pool."""
    from celery.concurrency.solo import TaskPool as SoloPool

    app = MagicMock()
    app.amqp.queues.consume_from = {queue: object() for queue in queues}
    return SimpleNamespace(hostname=name, app=app, pool=pool or SoloPool(), controller=SimpleNamespace(autoscaler=None))
