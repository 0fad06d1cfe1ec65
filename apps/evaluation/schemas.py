from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from apps.common.schemas import InSchema
from apps.evaluation.models import Evaluation, EvaluationResult


class EndpointIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Unique in the project")
    base_url: str = Field(
        min_length=1, max_length=500, description="The server's address up to /v1, e.g. http://vllm:8000/v1"
    )
    model: str = Field(min_length=1, max_length=200, description="The model name the server expects")
    api_key: str = Field(
        "", max_length=4000, description="Sent as 'Authorization: Bearer'; stored encrypted and never shown again"
    )
    price_per_hour: Decimal | None = Field(None, ge=0, description="USD per hour of the host serving it")
    price_input_per_mtok: Decimal | None = Field(None, ge=0, description="USD per million input tokens")
    price_output_per_mtok: Decimal | None = Field(None, ge=0, description="USD per million output tokens")
    upstream: bool = Field(
        False, description="One of the project's LLM providers: the gateway forwards the agent's calls to it"
    )
    models: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description='The model names it serves as upstream, as fnmatch patterns (e.g. "gpt-4o*"); default ["*"]: '
        "any. A call goes to the upstream endpoint whose pattern names its model most specifically",
    )


class EndpointOut(Schema):
    id: UUID
    name: str
    base_url: str
    model: str
    has_api_key: bool = Field(description="Whether a key is stored (the key itself is never shown)")
    price_per_hour: Decimal | None
    price_input_per_mtok: Decimal | None
    price_output_per_mtok: Decimal | None
    upstream: bool = Field(description="One of the project's LLM providers")
    models: list[str] = Field(description="The model names it serves as upstream (fnmatch patterns)")
    created_at: datetime


class EndpointListOut(Schema):
    items: list[EndpointOut]


class TaskScoringIn(InSchema):
    """Every setting at once: one left out goes back to its default."""

    model_config = ConfigDict(extra="forbid")

    target: float | None = Field(
        None, gt=0, lt=1, description="Agreement the whole 95% interval must reach; null: EVALUATION_TARGET"
    )
    text_metric: Literal["rouge_l", "cosine", "judge"] = Field(
        "cosine", description="Free text and code: ROUGE-L, MiniLM embedding cosine, or an LLM judge"
    )
    text_threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Similarity an answer needs to agree; null: the metric's default (rouge_l 0.5, cosine 0.85, "
        "judge 0.8: a rubric score of 4 or 5 out of 5)",
    )
    judge_endpoint: UUID | None = Field(None, description="A model endpoint of the project; with judge only")


class TaskScoringOut(Schema):
    cluster: UUID
    target: float = Field(description="The agreement target its evaluations get unless they are given one")
    target_is_default: bool = Field(description="The task sets no target: EVALUATION_TARGET")
    text_metric: str = Field(description="Free text and code: rouge_l, cosine or judge")
    text_threshold: float = Field(description="The similarity an answer needs to agree (the judge's: score / 5)")
    text_threshold_is_default: bool = Field(description="The task sets no threshold: the metric's default")
    judge_endpoint: UUID | None
    applies_to_answers: bool = Field(description="Whether the task's answers are free text or code")
    updated_at: datetime | None = Field(description="When it was last set; null: never, all defaults")


class CandidateIn(InSchema):
    """Exactly one of: an endpoint, a training run, or a base model with its number of shots."""

    model_config = ConfigDict(extra="forbid")

    endpoint: UUID | None = Field(None, description="A model endpoint of the project")
    training_run: UUID | None = Field(None, description="A finished training run's specialist (LoRA or classifier)")
    base_model: str | None = Field(
        None, min_length=1, max_length=500, description="A catalog model as it is: catalog id or Hugging Face id"
    )
    shots: int | None = Field(
        None, ge=0, le=16, description="Examples from the task's train split in the prompt, with base_model"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "CandidateIn":
        given = [name for name in ("endpoint", "training_run", "base_model") if getattr(self, name) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "candidate", "give exactly one of endpoint, training_run or base_model (got {given})", {"given": given}
            )
        if self.shots is not None and self.base_model is None:
            raise PydanticCustomError("candidate", "shots go with base_model only")
        return self


class EvaluationIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    cluster: UUID = Field(description="The task's id")
    candidate: CandidateIn
    target: float | None = Field(
        None, gt=0, lt=1, description="Agreement the whole 95% interval must reach; default EVALUATION_TARGET"
    )


class EvaluationCandidateOut(Schema):
    kind: str = Field(description="endpoint, training_run or base_model")
    endpoint: UUID | None
    training_run: UUID | None
    base_model: UUID | None
    shots: int | None
    name: str = Field(description="The candidate in a few words")
    model: str = Field(description="The model it serves or starts from")


class AgreementOut(Schema):
    value: float | None = Field(description="Share of test calls whose answer agrees with the LLM's")
    ci_low: float | None = Field(description="Wilson 95% interval")
    ci_high: float | None
    agreed: int


class LatencyOut(Schema):
    p50_ms: float | None
    p95_ms: float | None


class CostOut(Schema):
    candidate_per_1k_calls: Decimal | None = Field(description="USD per 1000 calls on the candidate")
    llm_per_1k_calls: Decimal | None = Field(description="USD per 1000 calls on the LLM, from the logged costs")
    basis: str = Field(description="How the candidate's cost was worked out")


class EvaluationOut(Schema):
    id: UUID
    cluster: UUID
    candidate: EvaluationCandidateOut
    kind: str = Field(description="The output kind scored: label, json, tool_calls, sql, code or text")
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str
    progress: float = Field(description="0 to 1")
    message: str
    error: str = Field(description="Why it failed, and what to do")
    attempt: int
    test_calls: int = Field(description="Calls in the task's frozen test split")
    calls_done: int = Field(description="Test calls scored so far")
    test_hash: str = Field(description="sha256 of the sorted test call ids: equal hashes, same test calls")
    target: float
    text_metric: str = Field(description="Free text and code: how answers were scored (rouge_l, cosine, judge)")
    text_threshold: float | None = Field(description="Free text and code: the similarity an answer needed")
    judge_endpoint: UUID | None = Field(description="The endpoint that judged, with the judge metric")
    agreement: AgreementOut
    verdict: str = Field(description="ready, not_ready or inconclusive once done; empty before")
    calls_to_settle: int | None = Field(description="Test calls in all that would settle an inconclusive verdict")
    metrics: dict[str, Any] = Field(description="The output kind's metrics, failure groups, LLM figures")
    latency: LatencyOut
    output_tokens: int | None = Field(description="Output tokens over the test calls, as the endpoint reported")
    cost: CostOut
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_cluster(obj: Evaluation) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_judge_endpoint(obj: Evaluation) -> UUID | None:
        return obj.judge_endpoint_id

    @staticmethod
    def resolve_candidate(obj: Evaluation) -> dict[str, Any]:
        endpoint, run, base = obj.endpoint, obj.training_run, obj.base_model
        model = endpoint.model if endpoint else base.hf_id if base else ""
        if run is not None and run.base_model is not None:
            model = run.base_model.hf_id
        return {
            "kind": obj.candidate_kind,
            "endpoint": endpoint.id if endpoint else None,
            "training_run": run.id if run else None,
            "base_model": base.id if base else None,
            "shots": obj.shots if base else None,
            "name": obj.candidate_name,
            "model": model,
        }

    @staticmethod
    def resolve_agreement(obj: Evaluation) -> dict[str, Any]:
        return {
            "value": obj.agreement,
            "ci_low": obj.agreement_low,
            "ci_high": obj.agreement_high,
            "agreed": obj.agreed,
        }

    @staticmethod
    def resolve_latency(obj: Evaluation) -> dict[str, Any]:
        return {"p50_ms": obj.latency_p50_ms, "p95_ms": obj.latency_p95_ms}

    @staticmethod
    def resolve_cost(obj: Evaluation) -> dict[str, Any]:
        return {
            "candidate_per_1k_calls": obj.cost_per_1k_calls,
            "llm_per_1k_calls": obj.llm_cost_per_1k_calls,
            "basis": (obj.metrics or {}).get("cost_basis", ""),
        }


class EvaluationFilterIn(InSchema):
    cluster: UUID | None = Field(None, description="Only this task's evaluations")
    cursor: str | None = Field(None, description="next_cursor from the previous page")
    limit: int = Field(50, ge=1, le=200)


class EvaluationPageOut(Schema):
    items: list[EvaluationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class ResultFilterIn(InSchema):
    agree: bool | None = Field(None, description="true: only calls that agree; false: only those that do not")
    cursor: str | None = Field(None, description="next_cursor from the previous page")
    limit: int = Field(50, ge=1, le=200)


class ResultOut(Schema):
    call: UUID
    agree: bool
    reason: str = Field(description="'match', or the first reason the answers do not agree")
    reference: dict[str, Any] | None = Field(description="The LLM's logged answer (assistant message)")
    output: dict[str, Any] | None = Field(description="The candidate's answer (assistant message)")
    latency_ms: float
    input_tokens: int | None
    output_tokens: int | None

    @staticmethod
    def resolve_call(obj: EvaluationResult) -> UUID:
        return obj.call_id


class ResultPageOut(Schema):
    items: list[ResultOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
