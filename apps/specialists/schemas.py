from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field

from apps.common.schemas import InSchema
from apps.specialists.models import TrainingDataset, TrainingRun


class MemoryOut(Schema):
    serve_bf16_mb: int = Field(description="GPU memory to serve it in bf16 with a 4k-token context")
    serve_4bit_mb: int = Field(description="The same with 4-bit weights")
    train_lora_mb: int = Field(description="LoRA fine-tuning in bf16 with gradient checkpointing")
    train_qlora_mb: int = Field(description="QLoRA fine-tuning (4-bit weights)")
    seq_len: int = Field(description="Training sequence length the estimate assumes")
    batch_size: int = Field(description="Training micro-batch the estimate assumes")


class CatalogModelOut(Schema):
    id: UUID
    hf_id: str = Field(description="Hugging Face id, or a local folder")
    name: str
    family: str
    params_b: float = Field(description="Parameters, in billions")
    licence: str
    licence_url: str
    context_window: int = Field(description="Tokens")
    architecture: str
    chat_template: bool
    tool_calling: bool = Field(description="Its chat template renders tools and tool calls")
    source_url: str = Field(description="Where the figures come from (model card)")
    note: str = Field(description="Caveats about the figures, when there are any")
    seeded: bool = Field(description="From the shipped catalog")
    memory: MemoryOut
    weights_present: bool = Field(description="The weights are on the control plane's machine")
    weights_note: str


class CatalogModelListOut(Schema):
    items: list[CatalogModelOut]


class CandidateOut(Schema):
    kind: str = Field(description="lora: fine-tune the model; classifier: embeddings and a linear head")
    key: str = Field(description="What to send as base_model to build its dataset: catalog id, or 'classifier'")
    name: str
    model: CatalogModelOut | None = Field(description="The catalog model; null for the classifier")
    eligible: bool = Field(description="Passes every hard constraint")
    recommended: bool
    score: float = Field(description="Fit score: higher is a better start for this task")
    reasons: list[str]
    failed_constraints: list[str]


class CandidateListOut(Schema):
    cluster: UUID
    gpu_memory_mb: int = Field(description="The largest GPU the candidates must fit")
    gpu_memory_assumed: bool = Field(description="No GPU worker registered: the default size was used")
    prompt_tokens_p99: float | None
    notes: list[str]
    items: list[CandidateOut]


class DatasetIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    cluster: UUID = Field(description="The task's id")
    base_model: str | None = Field(
        None, min_length=1, max_length=500, description="Catalog id or Hugging Face id; null for a classifier"
    )
    kind: Literal["lora", "classifier"] = Field("lora")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of conversations for validation")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="Share of conversations for the frozen test split")
    seed: int = Field(13, description="Fixes which conversations land in which split")


class DatasetCountsOut(Schema):
    train: int
    val: int
    test: int


class DatasetOut(Schema):
    """A dataset is built by a job: its counts, hash and files are there once `status` is succeeded."""

    id: UUID
    cluster: UUID
    kind: str
    base_model: str | None = Field(description="The base model's Hugging Face id; null for a classifier")
    seed: int
    val_fraction: float
    test_fraction: float
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str = Field(description="queued, reading, writing or done")
    progress: float = Field(description="0 to 1")
    message: str
    error: str = Field(description="Why the build failed, and what to do")
    calls_done: int = Field(description="Calls read so far")
    calls_total: int = Field(description="Calls the build reads")
    counts: DatasetCountsOut
    test_hash: str = Field(description="sha256 over the frozen test split; equal hashes, same test calls")
    warnings: list[str]
    path: str = Field(description="Folder with train.jsonl, val.jsonl and test.jsonl; empty until built")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_cluster(obj: TrainingDataset) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_base_model(obj: TrainingDataset) -> str | None:
        return obj.base_model.hf_id if obj.base_model else None

    @staticmethod
    def resolve_counts(obj: TrainingDataset) -> dict[str, int]:
        return {"train": obj.train_count, "val": obj.val_count, "test": obj.test_count}


class TrainingRunIn(InSchema):
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
    message: str = Field(
        description="What it does now; while queued, what it waits for (a worker on its queue, GPU memory, "
        "the runs ahead of it)"
    )
    error: str
    attempt: int
    step: int
    total_steps: int
    history: list[dict[str, Any]] = Field(description="[{step, epoch, train_loss, val_loss, lr, tokens_per_s}]")
    metrics: dict[str, Any] = Field(description="Final figures: validation loss, test accuracy, notes...")
    tokens_per_s: float | None
    eta_s: float | None = Field(description="Seconds left, estimated")
    gpu_memory_mb: float | None = Field(description="Peak GPU memory; null on a CPU")
    gpu_worker: str = Field(description="The worker (Celery node) that runs it")
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
