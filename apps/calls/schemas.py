from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from apps.common.ids import as_uuid
from apps.common.schemas import FieldErrorOut, InSchema, Instant


class RejectedOut(Schema):
    index: int = Field(description="Position of the record in the request (0-based; the line for NDJSON)")
    id: str | None = Field(description="The record's client id, when it had one")
    errors: list[FieldErrorOut]


class IngestOut(Schema):
    accepted: int = Field(description="Calls stored by this request")
    duplicates: int = Field(description="Calls the project already had (same client id, or same content without one)")
    rejected: list[RejectedOut]
    ignored_fields: list[str] = Field(description="Unknown top-level record fields that were not stored")


class CallFilterIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    agent: str = ""
    model: str = ""
    workload: str = ""
    status: Literal["", "ok", "error"] = ""
    training: Literal[
        "", "yes", "no", "duplicate", "near_duplicate", "error", "empty_response", "truncated", "too_long",
        "invalid_tool_json",
    ] = Field("", description="yes: trainable calls; no: excluded ones; or one exclusion reason")  # fmt: skip
    since: Instant | None = Field(None, description="Calls at or after this time (ISO 8601)")
    until: Instant | None = Field(None, description="Calls before this time (ISO 8601)")
    cluster: str = Field("", description="Calls in this task (its id), or `none` for calls in no task")
    cursor: str | None = Field(None, description="next_cursor from the previous page")
    limit: int = Field(50, ge=1, le=500)

    @field_validator("cluster")
    @classmethod
    def _cluster_is_an_id_or_none(cls, value: str) -> str:
        if value and value != "none" and as_uuid(value) is None:
            raise PydanticCustomError("cluster", "must be a task id, or 'none' for calls in no task")
        return value


class CallSummaryOut(Schema):
    id: UUID
    client_id: str | None
    agent: str
    workload: str
    model: str
    timestamp: datetime
    received_at: datetime
    status: str
    finish_reason: str
    latency_ms: int | None
    ttft_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: Decimal | None
    trace_id: str
    preview: str
    trainable: bool = Field(description="Whether the call may become training data")
    exclusion_reason: str = Field(description="Why not, when it may not (duplicate, truncated, ...)")
    duplicate_of: UUID | None = Field(description="The call this one duplicates, for (near-)duplicates")
    pii_counts: dict[str, int] = Field(description="PII found and redacted before storage, by type")
    cluster: UUID | None = Field(description="The task the call is in; null when it fits none or is not assigned yet")
    cluster_confidence: float | None = Field(description="How well the call fits its task, 0 to 1")

    @staticmethod
    def resolve_cluster(obj: Any) -> UUID | None:
        return obj.task_cluster_id  # type: ignore[no-any-return]


class CallOut(CallSummaryOut):
    request: dict[str, Any]
    response: dict[str, Any] | None
    error: str
    span_id: str
    parent_span_id: str
    metadata: dict[str, Any]


class CallPageOut(Schema):
    items: list[CallSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
