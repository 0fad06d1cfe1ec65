from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field


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


class DatasetIn(Schema):
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
    id: UUID
    cluster: UUID
    kind: str
    base_model: str | None = Field(description="The base model's Hugging Face id; null for a classifier")
    seed: int
    val_fraction: float
    test_fraction: float
    counts: DatasetCountsOut
    test_hash: str = Field(description="sha256 over the frozen test split; equal hashes, same test calls")
    warnings: list[str]
    path: str = Field(description="Folder with train.jsonl, val.jsonl and test.jsonl")
    created_at: datetime
