"""Training runs over the API: start one on a dataset (202), then poll it."""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from apps.calls.schemas import ErrorOut
from apps.projects.auth import ProjectApiKey, require_scope
from apps.specialists import training
from apps.specialists.models import TrainingRun

router = Router(tags=["specialists"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


class TrainingRunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    dataset: UUID = Field(description="The dataset to train on (its kind decides LoRA or classifier)")
    params: dict[str, Any] = Field(
        {},
        description=(
            "Overrides of the defaults. LoRA: method (lora|qlora), learning_rate, epochs, max_steps, batch_size, "
            "grad_accum, max_seq_len, packing, gradient_checkpointing, lora_r, lora_alpha, lora_dropout, "
            "warmup_ratio, weight_decay, eval_every, early_stopping_patience, checkpoint_every, log_every, seed. "
            "Classifier: c, max_iter, balanced. An unknown name is a 422."
        ),
    )


class TrainingRunOut(Schema):
    id: UUID
    dataset: UUID
    cluster: UUID = Field(description="The task the specialist is for")
    kind: str = Field(description="lora or classifier")
    method: str = Field(description="lora, qlora or logreg: as run (QLoRA falls back to LoRA without CUDA)")
    base_model: str | None = Field(description="Hugging Face id of the base model (LoRA)")
    params: dict[str, Any] = Field(description="Every hyper-parameter, defaults filled in")
    queue: str = Field(description="gpu or cpu")
    memory_estimate_mb: int = Field(description="GPU memory the run needs to start")
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str
    progress: float = Field(description="0 to 1")
    message: str
    error: str
    attempt: int
    step: int
    total_steps: int
    history: list[dict[str, Any]] = Field(description="[{step, epoch, train_loss, val_loss, lr, tokens_per_s}]")
    metrics: dict[str, Any] = Field(description="Final figures: validation loss, test accuracy, notes...")
    tokens_per_s: float | None
    eta_s: float | None = Field(description="Seconds left, estimated")
    gpu_memory_mb: float | None = Field(description="Peak GPU memory; null on a CPU")
    gpu_worker: str
    artifact_path: str = Field(description="The adapter (or classifier) folder once the run succeeded")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_dataset(obj: TrainingRun) -> UUID:
        return obj.dataset_id

    @staticmethod
    def resolve_cluster(obj: TrainingRun) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_base_model(obj: TrainingRun) -> str | None:
        return obj.base_model.hf_id if obj.base_model else None


@router.post(
    "/training-runs",
    response={202: TrainingRunOut, 404: ErrorOut, **_ERRORS},
    summary="Train a specialist",
    description=(
        "Queues a training run on a dataset: a LoRA adapter on a GPU worker, or a classifier on a CPU worker. "
        "Poll the run for its progress."
    ),
)
def create_training_run(request: HttpRequest, payload: TrainingRunIn) -> Status[TrainingRun]:
    key = require_scope(request, "discover")
    dataset = training.training_dataset_get(project=key.project, dataset_id=payload.dataset)
    run = training.training_run_create(dataset=dataset, params=payload.params, created_by=None)
    return Status(202, run)


@router.get(
    "/training-runs/{run_id}",
    response={200: TrainingRunOut, 404: ErrorOut, **_ERRORS},
    summary="Get a training run",
)
def get_training_run(request: HttpRequest, run_id: str) -> TrainingRun:
    key = require_scope(request, "read")
    return training.training_run_get(project=key.project, run_id=run_id)
