"""A training run on a worker: the body of the `specialists.train` task. It loads the run, decides whether
this worker should start it now (else the run waits: services.training_run_defer), claims it, calls the
Django-free job in workers/ (workers.jobs.training for LoRA, workers.jobs.classifier) with plain
arguments, and records progress and the result through services, every write fenced by the claim.

The jobs are imported inside the functions, so the web process, which imports the tasks module to
register the job kinds, never imports torch. Artifacts and checkpoints go under
ARTIFACT_ROOT/training/<run id>/ (and to S3 as well when ARTIFACT_S3_BUCKET is set: artifacts.py). For a
run to resume on another worker, ARTIFACT_ROOT must be storage the workers share (a volume or network
file system); otherwise the run starts over on the new worker."""

import socket
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.fleet import selectors as fleet
from apps.fleet import services as fleet_services
from apps.jobs import services as jobs
from apps.specialists import artifacts, selectors, services
from apps.specialists.models import SpecialistKind, TrainingRun

REPORT_EVERY_S = 1.0  # progress without a new history point is written at most this often


def run_dir(run_id: UUID | str) -> Path:
    return Path(settings.ARTIFACT_ROOT) / "training" / str(run_id)


class Reporter:
    """The job's progress callback: step, history, speed, ETA and GPU memory onto the run row. Returns
    False (the job then stops) when cancellation was asked for or the run is no longer this worker's."""

    ROW_FIELDS = ("step", "total_steps", "tokens_per_s", "eta_s", "gpu_memory_mb")

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.history: list[dict[str, Any]] = list(run.history)
        self.written = 0.0

    def __call__(self, fraction: float, stage: str, message: str, **update: Any) -> bool:
        fields: dict[str, Any] = {name: update[name] for name in self.ROW_FIELDS if name in update}
        if "resumed_from" in update:  # points past the checkpoint were trained again from it
            self.history = [h for h in self.history if h.get("step", 0) <= update["resumed_from"]]
            fields["history"] = self.history
        if update.get("log"):
            self.history.append(update["log"])
            fields["history"] = self.history
        if update.get("checkpoint"):
            fields["checkpoint_path"] = update["checkpoint"]
        now = time.monotonic()
        if "history" not in fields and stage == self.run.stage and now - self.written < REPORT_EVERY_S:
            return True
        self.written = now
        return jobs.job_progress(job=self.run, fraction=fraction, stage=stage, message=message, **fields)


def why_not_here(run: TrainingRun, worker_name: str) -> str:
    """Why this worker should not start the run now ('' when it may). A worker without a GPU trains LoRA
    on its CPU (small models, tests); QLoRA needs a GPU. An unregistered worker (eager mode) just runs it."""
    worker = fleet.worker_find(name=worker_name)
    if worker is None:
        return ""
    if worker.draining:
        return f"Waiting for a worker: {worker_name} is draining"
    if run.kind != SpecialistKind.LORA:
        return ""
    if not worker.gpus:
        return (
            f"Waiting for a worker with a GPU: QLoRA needs one, {worker_name} has none" if run.method == "qlora" else ""
        )
    if worker.free_gpu_memory_mb < run.memory_estimate_mb:
        return (
            f"Waiting for {run.memory_estimate_mb:,} MB of GPU memory: {worker_name} has "
            f"{worker.free_gpu_memory_mb:,} MB free"
        )
    return ""


def _train(run: TrainingRun, reporter: Reporter) -> dict[str, Any]:
    from workers.jobs.training import TrainingError

    dataset = run.dataset
    data_dir = Path(dataset.path)
    if not (data_dir / "train.jsonl").exists():
        raise TrainingError(f"The dataset's files are not on this worker (no {data_dir / 'train.jsonl'})")
    metadata = {
        "run_id": str(run.id),
        "project": run.project.slug,
        "cluster_id": str(run.cluster_id),
        "dataset_id": str(dataset.id),
        "test_hash": dataset.test_hash,
        "test_count": dataset.test_count,
    }
    if run.kind == SpecialistKind.CLASSIFIER:
        from workers.jobs.classifier import train_classifier

        return train_classifier(
            data_dir=data_dir, out_dir=run_dir(run.id), params=run.params, progress=reporter, metadata=metadata
        )
    from workers.jobs.local_models import WeightsMissing, model_folder
    from workers.jobs.training import train_lora

    base = run.base_model
    if base is None:
        raise TrainingError("The run has no base model")
    metadata["base_model_name"] = base.name
    metadata["base_model_hf_id"] = base.hf_id
    reporter(0.0, "loading", f"Finding the weights of {base.name}")
    try:
        model_ref = model_folder(base.local_path or base.hf_id, Path(settings.MODEL_CACHE_DIR))
    except WeightsMissing as exc:
        raise TrainingError(str(exc)) from exc
    return train_lora(
        model_ref=model_ref,
        data_dir=data_dir,
        out_dir=run_dir(run.id),
        params=run.params,
        progress=reporter,
        metadata=metadata,
    )


def training_run_execute(*, run_id: UUID | str, worker_name: str | None = None) -> None:
    """Run one training run on this worker (`worker_name`: its Celery node name). A run this worker should
    not start now waits (services.training_run_defer); a run claimed again after its worker vanished
    resumes from its last checkpoint."""
    from workers.jobs.training import Cancelled, TrainingError

    name = worker_name or socket.gethostname()
    run = selectors.training_run_find(run_id=run_id)
    if run is None or run.is_terminal:
        return
    if reason := why_not_here(run, name):
        services.training_run_defer(run=run, reason=reason)
        return
    claimed = jobs.job_claim(model=TrainingRun, job_id=run.id)
    if claimed is None:
        return
    run = selectors.training_run_find(run_id=claimed.id)
    assert run is not None
    if not services.training_run_started(run=run, worker_name=name):
        jobs.job_cancelled(job=run)
        return
    fleet_services.worker_job_started(name=name, job_id=run.id)
    uri = ""
    try:
        with jobs.job_heartbeats(job=run):  # loading a model can take minutes without a progress report
            client = artifacts.s3_client()
            result = _train(run, Reporter(run))
            if client is not None:
                uri = artifacts.artifacts_upload(client=client, folder=Path(result["adapter_path"]), run_id=run.id)
    except Cancelled:
        jobs.job_cancelled(job=run)  # refused when the run was taken over: then it is not ours to end
        return
    except (TrainingError, ImproperlyConfigured) as exc:
        jobs.job_fail(job=run, error=str(exc))
        return
    except Exception as exc:
        jobs.job_fail(job=run, error=f"Training stopped: {exc}")
        raise
    finally:
        fleet_services.worker_job_finished(name=name, job_id=run.id)
    services.training_run_succeed(run=run, result=result, artifact_uri=uri)
