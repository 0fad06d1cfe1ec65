from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field

from apps.common.schemas import MAX_DB_INT, InSchema, Instant


class DiscoveryRunIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    since: Instant | None = Field(None, description="Only calls at or after this time (ISO 8601)")
    until: Instant | None = Field(None, description="Only calls before this time (ISO 8601)")
    agents: list[str] = Field([], description="Only these agents' calls; all agents when empty")
    min_cluster_size: int | None = Field(
        None, ge=2, le=MAX_DB_INT, description="The fewest calls a task may have; chosen from the data when omitted"
    )


class DiscoveryRunOut(Schema):
    id: UUID
    kind: str = Field(description="full: discovery over the project; split: re-clustering inside one task")
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str
    progress: float = Field(description="0 to 1")
    message: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    since: datetime | None
    until: datetime | None
    agents: list[str]
    calls_total: int = Field(description="Calls the run read")
    texts_total: int = Field(description="Distinct texts the calls were read as")
    texts_embedded: int = Field(description="Texts embedded in this run (the rest were cached)")
    clusters_found: int
    unassigned: int = Field(description="Calls that fit no task")
    timings: dict[str, float] = Field(description="Seconds per stage")
    changes: dict[str, object] = Field(description="What changed against the tasks before this run")


class ClusterFilterIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "merged", "split", "retired", "all"] = Field(
        "active", description="Tasks with this status; `all` for every status"
    )


class ClusterStatsOut(Schema):
    calls: int
    share: float = Field(description="Share of all the project's calls, 0 to 1")
    prompt_tokens: int
    completion_tokens: int
    cost: float = Field(description="At the LLM's prices")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    prompt_tokens_p99: float | None
    agents: list[str]


class SuitabilityOut(Schema):
    level: str = Field(description="good, fair or poor: how well a small model could take the task over")
    score: int
    reasons: list[str]


class ClusterOut(Schema):
    id: UUID
    code: str = Field(description="T1, T2, ... within the project")
    name: str
    description: str
    status: str = Field(description="active, merged, split or retired")
    keep_on_llm: bool = Field(description="People decided this task stays on the LLM")
    output_kind: str
    output_kind_label: str
    labels: list[str] = Field(description="For a closed label set: the labels, most frequent first")
    json_keys: list[str]
    keywords: list[str]
    representatives: list[UUID] = Field(description="Ids of the calls closest to the task's centre")
    merged_into: UUID | None = Field(description="The task this one was merged into")
    parent: UUID | None = Field(description="The task this one was split from")
    stats: ClusterStatsOut
    suitability: SuitabilityOut


class ClusterListOut(Schema):
    items: list[ClusterOut]
