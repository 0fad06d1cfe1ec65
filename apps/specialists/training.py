"""Training runs: start one on a dataset (parameters checked, defaults filled in, GPU memory estimated),
execute it on a worker (wait for a GPU with room, claim, train, save artifacts), cancel it, read it.

A LoRA run goes to the `gpu` queue, a classifier to `cpu`. The jobs themselves live in
workers.jobs.training and workers.jobs.classifier and are imported only when a run executes, so the
web process never imports torch. Artifacts go under ARTIFACT_ROOT/training/<run id>/, and to S3 as
well when ARTIFACT_S3_BUCKET is set (boto3 must then be installed on the workers). Checkpoints are
written there too: for a run to resume on another worker, ARTIFACT_ROOT must be storage the GPU
workers share (a volume or network file system); otherwise the run starts over on the new worker.
"""

import socket
import time
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction

from apps.common.errors import DomainError, NotFound
from apps.fleet.models import GpuWorker
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.catalog import memory_estimate
from apps.specialists.models import SpecialistKind, TrainingDataset, TrainingRun
from workers.jobs.classifier import ClassifierConfig
from workers.jobs.training import LoraConfig

GPU_WAIT_S = 30
GPU_WAIT_MAX = 120  # an hour of waiting, then the run fails with the reason
REPORT_EVERY_S = 1.0  # progress without a new history point is written at most this often


# --- parameters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type
    default: Any
    label: str
    help: str
    form: bool
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


def param_specs(kind: str) -> list[ParamSpec]:
    """The parameters of a run of this kind: name, type, default and bounds, from the job's config."""
    config = ClassifierConfig if kind == SpecialistKind.CLASSIFIER else LoraConfig
    specs = []
    for f in fields(config):
        meta = f.metadata
        default = f.default if f.default is not MISSING else None
        specs.append(
            ParamSpec(
                name=f.name,
                type=type(default),
                default=default,
                label=meta.get("label", f.name),
                help=meta.get("help", ""),
                form=meta.get("form", True),
                minimum=meta.get("min"),
                maximum=meta.get("max"),
                choices=tuple(meta.get("choices", ())),
            )
        )
    return specs


def _invalid(name: str, message: str) -> DomainError:
    return DomainError(message, code="invalid", status=422, field=f"params.{name}")


def _coerce(spec: ParamSpec, value: Any) -> Any:
    if spec.type is bool:
        if not isinstance(value, bool):
            raise _invalid(spec.name, f"'{spec.name}' must be true or false")
        return value
    if spec.type is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise _invalid(spec.name, f"'{spec.name}' must be a whole number")
        value = int(value)
    elif spec.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(spec.name, f"'{spec.name}' must be a number")
        value = float(value)
    elif spec.choices:
        if value not in spec.choices:
            raise _invalid(spec.name, f"'{spec.name}' must be one of {', '.join(spec.choices)}")
        return value
    if spec.minimum is not None and value < spec.minimum:
        raise _invalid(spec.name, f"'{spec.name}' must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise _invalid(spec.name, f"'{spec.name}' must be at most {spec.maximum:g}")
    return value


def training_params(*, kind: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of the kind, the defaults replaced by `overrides`. An unknown name or a value
    of the wrong type or out of bounds is a 422 naming it."""
    specs = {spec.name: spec for spec in param_specs(kind)}
    params = {name: spec.default for name, spec in specs.items()}
    for name, value in (overrides or {}).items():
        if name not in specs:
            raise _invalid(name, f"Unknown training parameter '{name}'; known: {', '.join(specs)}")
        params[name] = _coerce(specs[name], value)
    return params


def memory_estimate_mb(*, params_b: float, params: dict[str, Any]) -> int:
    """GPU memory a LoRA run needs to start (see apps.specialists.catalog for the formula)."""
    estimate = memory_estimate(params_b, seq_len=params["max_seq_len"], batch_size=params["batch_size"])
    return estimate.train_qlora_mb if params.get("method") == "qlora" else estimate.train_lora_mb


# --- reads ------------------------------------------------------------------------------------------


def training_dataset_get(*, project: Project, dataset_id: UUID | str) -> TrainingDataset:
    try:
        return TrainingDataset.objects.select_related("cluster", "base_model").get(project=project, id=dataset_id)
    except (TrainingDataset.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound("No such dataset in this project", field="dataset") from exc


def training_run_get(*, project: Project, run_id: UUID | str) -> TrainingRun:
    try:
        return TrainingRun.objects.select_related("dataset", "cluster", "base_model", "created_by").get(
            project=project, id=run_id
        )
    except (TrainingRun.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound("No such training run in this project") from exc


def run_dir(run_id: UUID | str) -> Path:
    return Path(settings.ARTIFACT_ROOT) / "training" / str(run_id)


# --- writes -----------------------------------------------------------------------------------------


def _enqueue(run: TrainingRun, *, countdown: int = 0, waits: int = 0) -> None:
    from workers.tasks.specialists import training_run_execute_task

    def send() -> None:
        training_run_execute_task.apply_async(
            args=[str(run.id)], kwargs={"waits": waits}, queue=run.queue, countdown=countdown or None
        )

    transaction.on_commit(send)


@transaction.atomic
def training_run_create(
    *, dataset: TrainingDataset, params: dict[str, Any] | None, created_by: AbstractBaseUser | None
) -> TrainingRun:
    """Queue a run on a built dataset: LoRA on the gpu queue, a classifier on the cpu queue."""
    if not dataset.path or not dataset.train_count:
        raise DomainError("This dataset has no training examples yet; build it first", field="dataset")
    kind = dataset.kind
    if kind == SpecialistKind.LORA and dataset.base_model is None:
        raise DomainError("A LoRA specialist needs a base model: build the dataset for one", field="dataset")
    filled = training_params(kind=kind, overrides=params)
    lora = kind == SpecialistKind.LORA
    run = TrainingRun.objects.create(
        project=dataset.project,
        cluster=dataset.cluster,
        dataset=dataset,
        kind=kind,
        base_model=dataset.base_model if lora else None,
        method=filled["method"] if lora else "logreg",  # the field holds 8 characters
        params=filled,
        queue="gpu" if lora else "cpu",
        memory_estimate_mb=memory_estimate_mb(params_b=dataset.base_model.params_b, params=filled)
        if lora and dataset.base_model
        else 0,
        created_by=created_by,  # type: ignore[misc]
        stage="queued",
        message="Waiting for a GPU worker" if lora else "Waiting for a worker",
    )
    _enqueue(run)
    return run


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    result = jobs.job_request_cancel(job=run)
    assert isinstance(result, TrainingRun)
    return result


# --- execution (on a worker) ------------------------------------------------------------------------


class _Reporter:
    """The job's progress callback: step, history, speed, ETA and GPU memory onto the run row."""

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


def _gpu_wait(run: TrainingRun, worker_name: str) -> str:
    """Why this worker should not start the run now ('' when it may)."""
    worker = GpuWorker.objects.filter(name=worker_name).first()
    if worker is None:
        return ""
    need = f"Waiting for a GPU with {run.memory_estimate_mb:,} MB free"
    if worker.draining:
        return f"{need} ({worker_name} is draining)"
    if not worker.gpus:
        return ""  # a worker started on the gpu queue without a GPU trains on its CPU (small models, tests)
    if worker.free_gpu_memory_mb < run.memory_estimate_mb:
        return f"{need} ({worker_name} has {worker.free_gpu_memory_mb:,} MB)"
    return ""


def _s3_client() -> Any:
    if not settings.ARTIFACT_S3_BUCKET:
        return None
    try:
        import boto3
    except ImportError as exc:
        raise ImproperlyConfigured(
            "ARTIFACT_S3_BUCKET is set but boto3 is not installed on this worker: pip install boto3, "
            "or unset ARTIFACT_S3_BUCKET to keep artifacts on local disk only"
        ) from exc
    return boto3.client(
        "s3",
        endpoint_url=settings.ARTIFACT_S3_ENDPOINT_URL or None,
        region_name=settings.ARTIFACT_S3_REGION or None,
        aws_access_key_id=settings.ARTIFACT_S3_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.ARTIFACT_S3_SECRET_ACCESS_KEY or None,
    )


def artifacts_upload(*, client: Any, folder: Path, run_id: UUID | str) -> str:
    """Copy a finished artifact folder to s3://bucket/prefix/training/<run id>/<folder name>/."""
    bucket = settings.ARTIFACT_S3_BUCKET
    prefix = "/".join(p for p in (settings.ARTIFACT_S3_PREFIX, "training", str(run_id), folder.name) if p)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return f"s3://{bucket}/{prefix}"


def _train(run: TrainingRun, reporter: _Reporter) -> dict[str, Any]:
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
    from workers.jobs.training import train_lora

    base = run.base_model
    if base is None:
        raise TrainingError("The run has no base model")
    metadata["base_model_name"] = base.name
    metadata["base_model_hf_id"] = base.hf_id
    return train_lora(
        model_ref=base.local_path or base.hf_id,
        data_dir=data_dir,
        out_dir=run_dir(run.id),
        params=run.params,
        progress=reporter,
        metadata=metadata,
    )


def _summary(run: TrainingRun, result: dict[str, Any]) -> str:
    m = result["metrics"]
    if run.kind == SpecialistKind.CLASSIFIER:
        text = f"Test accuracy {m['test_accuracy']:.1%}" if m.get("test_accuracy") is not None else "Trained"
        if m.get("majority_accuracy") is not None:
            text += f" (majority class {m['majority_accuracy']:.1%})"
    else:
        text = f"{m['steps']:,} steps"
        if m.get("val_loss") is not None:
            text += f"; best validation loss {m['val_loss']:.4f} at step {m['best_step']:,}"
    return "; ".join([text, *result["notes"]])


def training_run_execute(*, run_id: UUID | str, worker_name: str | None = None, waits: int = 0) -> None:
    """Run one training run on this worker. A LoRA run waits (re-queued every GPU_WAIT_S seconds, at most
    GPU_WAIT_MAX times) while this worker is draining or lacks the GPU memory; a run claimed again
    after its worker vanished resumes from its last checkpoint."""
    from workers.jobs.training import Cancelled, TrainingError

    name = worker_name or socket.gethostname()
    run = TrainingRun.objects.filter(id=run_id).first()
    if run is None or run.is_terminal:
        return
    lora = run.kind == SpecialistKind.LORA
    if lora and (reason := _gpu_wait(run, name)):
        if waits < GPU_WAIT_MAX:
            TrainingRun.objects.filter(id=run.id, status=JobStatus.QUEUED).update(message=reason[:500])
            _enqueue(run, countdown=GPU_WAIT_S, waits=waits + 1)
        elif claimed := jobs.job_claim(model=TrainingRun, job_id=run.id):
            minutes = round(waits * GPU_WAIT_S / 60)
            jobs.job_fail(
                job=claimed,
                error=f"{reason} for {minutes} minutes: free a GPU, or lower the batch size or sequence length, "
                "or use QLoRA",
            )
        return
    claimed = jobs.job_claim(model=TrainingRun, job_id=run.id)
    if claimed is None:
        return
    assert isinstance(claimed, TrainingRun)
    run = TrainingRun.objects.select_related("dataset", "base_model", "project").get(id=claimed.id)
    run.gpu_worker = name if lora else ""
    TrainingRun.objects.filter(id=run.id).update(gpu_worker=run.gpu_worker)
    if lora:
        GpuWorker.objects.filter(name=name).update(current_job=str(run.id))
    try:
        client = _s3_client()
        result = _train(run, _Reporter(run))
        metrics = {**result["metrics"], "notes": result["notes"]}
        if client is not None:
            metrics["artifact_uri"] = artifacts_upload(
                client=client, folder=Path(result["adapter_path"]), run_id=run.id
            )
    except Cancelled:
        jobs.job_cancelled(job=run)
        return
    except (TrainingError, ImproperlyConfigured) as exc:
        jobs.job_fail(job=run, error=str(exc))
        return
    except Exception as exc:
        jobs.job_fail(job=run, error=f"Training stopped: {exc}")
        raise
    finally:
        if lora:
            GpuWorker.objects.filter(name=name, current_job=str(run.id)).update(current_job="")
    TrainingRun.objects.filter(id=run.id).update(
        metrics=metrics, method=result["method"], artifact_path=result["adapter_path"], checkpoint_path="", eta_s=0
    )
    run.metrics, run.method, run.artifact_path = metrics, result["method"], result["adapter_path"]
    jobs.job_succeed(job=run, message=_summary(run, result))
