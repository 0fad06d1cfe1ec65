from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.jobs import services as jobs
from apps.specialists import training
from apps.specialists.models import TrainingDataset, TrainingRun
from tests.specialists.conftest import LORA_FAST
from workers.jobs.training import checkpoint_step


class WorkerDied(BaseException):
    """Like SIGKILL: nothing of the run's own error handling gets to run."""


def test_a_run_claimed_again_after_its_worker_died_continues_from_the_last_checkpoint(
    lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = training.training_run_create(
        dataset=lora_dataset,
        params={**LORA_FAST, "max_steps": 8, "checkpoint_every": 2, "eval_every": 2},
        created_by=None,
    )
    original = jobs.job_progress
    reported: list[int] = []

    def dies_at_step_5(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("step") == 5:
            raise WorkerDied
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", dies_at_step_5)
    with pytest.raises(WorkerDied):
        training.training_run_execute(run_id=run.id, worker_name="gpu-1")
    run.refresh_from_db()
    assert (run.status, run.attempt, run.step) == ("running", 1, 4)
    assert checkpoint_step(training.run_dir(run.id)) == 4
    assert run.checkpoint_path.endswith("checkpoint")

    def records(*, job: Any, **kwargs: Any) -> bool:
        if "step" in kwargs:
            reported.append(kwargs["step"])
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", records)
    training.training_run_execute(run_id=run.id, worker_name="gpu-2")  # its heartbeat is fresh: not taken
    run.refresh_from_db()
    assert (run.status, run.attempt, reported) == ("running", 1, [])

    TrainingRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    training.training_run_execute(run_id=run.id, worker_name="gpu-2")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert (run.attempt, run.gpu_worker, run.metrics["resumed_from"]) == (2, "gpu-2", 4)
    assert reported[0] == 4 and min(s for s in reported if s > 4) == 5  # went on from step 4, not 0
    assert [h["step"] for h in run.history] == list(range(1, 9))  # one point per step, none twice
    assert run.step == 8 and (training.run_dir(run.id) / "adapter" / "adapter_model.safetensors").exists()
    assert not (training.run_dir(run.id) / "checkpoint").exists() and run.checkpoint_path == ""


def test_without_a_checkpoint_a_run_claimed_again_starts_over(
    lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = training.training_run_create(
        dataset=lora_dataset, params={**LORA_FAST, "max_steps": 4, "checkpoint_every": 100}, created_by=None
    )
    original = jobs.job_progress

    def dies_at_step_3(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("step") == 3:
            raise WorkerDied
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", dies_at_step_3)
    with pytest.raises(WorkerDied):
        training.training_run_execute(run_id=run.id)
    monkeypatch.setattr(jobs, "job_progress", original)
    TrainingRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    training.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.metrics["resumed_from"] == 0
    assert [h["step"] for h in run.history] == [1, 2, 3, 4]  # the lost points were dropped, not repeated
