"""A real Celery worker process (-Q gpu -P solo) on the test database and Redis: it registers, beats
(every second, through tests/fleet/worker_settings.py), stops consuming when drained, and marks itself
stopped when it shuts down."""

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from apps.fleet.models import GpuWorker
from apps.fleet.selectors import STOPPED_AT
from controlplane.celery import app as celery_app
from tests.celery_worker import start_worker


def _wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def worker_name() -> str:
    return f"fleettest-{uuid.uuid4().hex[:8]}@testhost"


@pytest.fixture
def gpu_worker(transactional_db: None, worker_name: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker(
        "gpu", name=worker_name, DJANGO_SETTINGS_MODULE="tests.fleet.worker_settings", PYTHONPATH=str(settings.BASE_DIR)
    )
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def _row(name: str) -> GpuWorker | None:
    return GpuWorker.objects.filter(name=name).first()


def _active_queues(name: str) -> list[str] | None:
    replies = celery_app.control.inspect(destination=[name], timeout=2).active_queues() or {}
    return [q["name"] for q in replies[name]] if name in replies else None


def test_a_worker_registers_heartbeats_drains_and_stops(gpu_worker: subprocess.Popen[bytes], worker_name: str) -> None:
    started = time.monotonic()
    worker = _wait_for(lambda: _row(worker_name), 60, "the worker to register")
    registered_in = time.monotonic() - started
    assert worker.queues == ["gpu"] and worker.concurrency == 1 and worker.host
    assert isinstance(worker.gpus, list)
    print(f"registered in {registered_in:.1f} s")

    first = worker.heartbeat_at
    _wait_for(lambda: (row := _row(worker_name)) and row.heartbeat_at > first, 10, "a heartbeat")

    assert _wait_for(lambda: _active_queues(worker_name), 20, "the worker to answer") == ["gpu"]
    GpuWorker.objects.filter(name=worker_name).update(draining=True)
    _wait_for(lambda: _active_queues(worker_name) == [], 20, "the drained worker to stop consuming")
    GpuWorker.objects.filter(name=worker_name).update(draining=False)
    _wait_for(lambda: _active_queues(worker_name) == ["gpu"], 20, "the resumed worker to consume again")

    gpu_worker.terminate()
    assert gpu_worker.wait(timeout=30) == 0
    stopped = _row(worker_name)
    assert stopped is not None and stopped.heartbeat_at == STOPPED_AT
