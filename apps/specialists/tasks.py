"""Celery tasks for specialists: thin (fetch by id, call one job body); both job kinds are registered here.

Both are idempotent, hence acks_late with reject_on_worker_lost: a training run resumes from its last
checkpoint, and a dataset build redoes its work into the same folder. A message delivered twice finds
the row claimed (or done) and returns."""

import socket
from typing import Any

from celery import shared_task

from apps.jobs.registry import JobKind, job_kind_register
from apps.specialists import datasets, execution, services
from apps.specialists.models import TrainingDataset, TrainingRun


@shared_task(name="specialists.train", bind=True, acks_late=True, reject_on_worker_lost=True)
def training_run_execute_task(self: Any, run_id: str) -> None:
    """One training run, on the gpu queue (LoRA) or the cpu queue (classifier)."""
    execution.training_run_execute(run_id=run_id, worker_name=self.request.hostname or socket.gethostname())


@shared_task(name="specialists.build_dataset", acks_late=True, reject_on_worker_lost=True)
def dataset_build_task(dataset_id: str) -> None:
    """Split a task's calls into a dataset's train / validation / test files, on the cpu queue."""
    datasets.dataset_build_run(dataset_id=dataset_id)


def training_run_send_options(run: TrainingRun) -> dict[str, Any]:
    """The run's queue; a run a worker put back to wait for a GPU (gpu_waits > 0) is sent with a delay."""
    return {"queue": run.queue, **({"countdown": services.GPU_WAIT_S} if run.gpu_waits else {})}


job_kind_register(
    JobKind(
        model=TrainingRun,
        task=training_run_execute_task,
        resumable=True,
        label="training run",
        options=training_run_send_options,
        on_requeue={"gpu_worker": "", "gpu_waits": 0},
    )
)
job_kind_register(
    JobKind(
        model=TrainingDataset,
        task=dataset_build_task,
        resumable=True,
        label="dataset build",
        options=lambda dataset: {"queue": "cpu"},
    )
)
