"""kill -9 of the worker process running a training run (a real Celery worker, the tiny Llama): within
one heartbeat window the jobs sweep requeues the run, and a second worker resumes it from its last
checkpoint and finishes it."""

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.jobs.services import jobs_sweep
from apps.specialists import services
from apps.specialists.execution import run_dir
from apps.specialists.models import CatalogModel, TrainingDataset, TrainingRun
from tests.celery_worker import start_worker
from tests.specialists.conftest import LORA_FAST
from workers.jobs.training import checkpoint_step

pytestmark = pytest.mark.django_db(transaction=True)

HEARTBEAT_S, STALE_S = 1, 3
DEADLINE_S = 180  # a loaded CI machine starts a worker and trains the tiny Llama slowly


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def workers(settings: Any) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start solo workers on the gpu queue, beating every second; all are stopped at the end."""
    settings.JOB_HEARTBEAT_S, settings.JOB_STALE_S = HEARTBEAT_S, STALE_S
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        proc = start_worker(
            "gpu",
            name=name,
            JOB_HEARTBEAT_S=str(HEARTBEAT_S),
            JOB_STALE_S=str(STALE_S),
            PYTHONPATH=str(django_settings.BASE_DIR),
            NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache"),
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def registered_with_weights(name: str, model: CatalogModel) -> bool:
    worker = GpuWorker.objects.filter(name=name).first()
    return worker is not None and worker.has_weights(model.hf_id)


def test_a_killed_worker_s_training_run_is_requeued_within_a_heartbeat_window_and_resumed_by_another(
    workers: Callable[[str], subprocess.Popen[bytes]],
    make_dataset: Callable[..., TrainingDataset],
    tiny_model: CatalogModel,
    lora_rows: dict[str, list[dict[str, Any]]],
) -> None:
    dataset = make_dataset(lora_rows, base_model=tiny_model)
    tag = uuid.uuid4().hex[:6]
    first_name, second_name = f"first-{tag}@testhost", f"second-{tag}@testhost"
    first = workers(first_name)
    wait_for(lambda: registered_with_weights(first_name, tiny_model), "the first worker to register")

    params = {**LORA_FAST, "max_steps": 40, "checkpoint_every": 4, "eval_every": 4, "early_stopping_patience": 0}
    run = services.training_run_create(dataset=dataset, params=params, created_by=None)  # sent on commit
    checkpointed = wait_for(
        lambda: (r := TrainingRun.objects.get(id=run.id)).checkpoint_path and r.step >= 6 and r,
        "the run to train past its first checkpoint on the first worker",
    )
    assert checkpointed.status == JobStatus.RUNNING and checkpointed.gpu_worker == first_name
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait(timeout=30)
    saved_step = checkpoint_step(run_dir(run.id))
    assert saved_step >= 4

    # What Celery beat does every JOB_HEARTBEAT_S: sweep.
    def swept() -> bool:
        jobs_sweep()
        return TrainingRun.objects.get(id=run.id).status == JobStatus.QUEUED

    wait_for(swept, "the sweep to requeue the run", timeout=STALE_S + 10 * HEARTBEAT_S)
    requeued_in = time.monotonic() - killed_at
    print(f"\nrequeued {requeued_in:.1f} s after the kill (stale after {STALE_S} s, beat every {HEARTBEAT_S} s)")
    assert requeued_in <= STALE_S + HEARTBEAT_S + 1  # one heartbeat window, and a second of slack for the poll
    requeued = TrainingRun.objects.get(id=run.id)
    assert (requeued.attempt, requeued.gpu_worker) == (1, "") and "stopped heartbeating" in requeued.message

    workers(second_name)  # the message the sweep sent waits for it in the gpu queue
    done = wait_for(lambda: (r := TrainingRun.objects.get(id=run.id)).is_terminal and r, "the second worker to finish")
    assert done.status == JobStatus.SUCCEEDED, (done.message, done.error)
    assert (done.attempt, done.gpu_worker, done.step) == (2, second_name, 40)
    assert done.metrics["resumed_from"] == saved_step  # from the checkpoint, not from step 0
    steps = [h["step"] for h in done.history]
    assert steps == list(range(1, 41))  # one point per step: none twice, none lost
    assert (run_dir(run.id) / "adapter" / "adapter_model.safetensors").exists()
