from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.specialists import execution, services
from apps.specialists.models import TrainingDataset, TrainingRun
from tests.specialists.conftest import LORA_FAST
from workers.jobs.training import checkpoint_step


class WorkerDied(BaseException):
    """Like SIGKILL: nothing of the run's own error handling gets to run."""


def test_a_run_claimed_again_after_its_worker_died_continues_from_the_last_checkpoint(
    lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = services.training_run_create(
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
        execution.training_run_execute(run_id=run.id, worker_name="gpu-1")
    run.refresh_from_db()
    assert (run.status, run.attempt, run.step) == ("running", 1, 4)
    assert checkpoint_step(execution.run_dir(run.id)) == 4
    assert run.checkpoint_path.endswith("checkpoint")

    def records(*, job: Any, **kwargs: Any) -> bool:
        if "step" in kwargs:
            reported.append(kwargs["step"])
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", records)
    execution.training_run_execute(run_id=run.id, worker_name="gpu-2")  # its heartbeat is fresh: not taken
    run.refresh_from_db()
    assert (run.status, run.attempt, reported) == ("running", 1, [])

    TrainingRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    execution.training_run_execute(run_id=run.id, worker_name="gpu-2")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert (run.attempt, run.gpu_worker, run.metrics["resumed_from"]) == (2, "gpu-2", 4)
    assert reported[0] == 4 and min(s for s in reported if s > 4) == 5  # went on from step 4, not 0
    assert [h["step"] for h in run.history] == list(range(1, 9))  # one point per step, none twice
    assert run.step == 8 and (execution.run_dir(run.id) / "adapter" / "adapter_model.safetensors").exists()
    assert not (execution.run_dir(run.id) / "checkpoint").exists() and run.checkpoint_path == ""


def test_without_a_checkpoint_a_run_claimed_again_starts_over(
    lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = services.training_run_create(
        dataset=lora_dataset, params={**LORA_FAST, "max_steps": 4, "checkpoint_every": 100}, created_by=None
    )
    original = jobs.job_progress

    def dies_at_step_3(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("step") == 3:
            raise WorkerDied
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", dies_at_step_3)
    with pytest.raises(WorkerDied):
        execution.training_run_execute(run_id=run.id)
    monkeypatch.setattr(jobs, "job_progress", original)
    TrainingRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    execution.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.metrics["resumed_from"] == 0
    assert [h["step"] for h in run.history] == [1, 2, 3, 4]  # the lost points were dropped, not repeated


def test_of_two_claimants_the_stale_ones_progress_and_final_writes_are_refused(
    lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker claims the run and goes silent; a second takes it over (attempt 2) and trains.
    Midway, the first comes back: its progress, its success and its failure are all refused, and the
    second finishes with its own result."""
    run = services.training_run_create(dataset=lora_dataset, params={**LORA_FAST, "max_steps": 6}, created_by=None)
    stale = jobs.job_claim(model=TrainingRun, job_id=run.id)
    assert isinstance(stale, TrainingRun) and stale.attempt == 1
    TrainingRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    original = jobs.job_progress
    refused: list[bool] = []

    def first_worker_comes_back(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("step") == 3 and not refused:
            refused.append(execution.Reporter(stale)(0.9, "training", "step 99", step=99, log={"step": 99}))
            refused.append(jobs.job_heartbeat(job=stale))
            refused.append(services.training_run_succeed(
                run=stale,
                result={"metrics": {"steps": 99}, "notes": [], "method": "lora", "adapter_path": "/stale"},
            ))  # fmt: skip
            refused.append(jobs.job_fail(job=stale, error="the stale worker failed"))
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", first_worker_comes_back)
    execution.training_run_execute(run_id=run.id, worker_name="gpu-2")

    assert refused == [False, False, False, False]
    run.refresh_from_db()
    assert (run.status, run.attempt, run.gpu_worker, run.error) == (JobStatus.SUCCEEDED, 2, "gpu-2", "")
    assert run.step == 6 and 99 not in [h["step"] for h in run.history]
    assert run.artifact_path != "/stale" and run.metrics["steps"] == 6
