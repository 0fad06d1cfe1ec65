from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, StrictInt

from apps.common.schemas import InSchema
from apps.serving.models import Deployment, RetrainProposal, ServingEvent


class DeploymentIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    approval: UUID = Field(description="The swap approval in force whose candidate is deployed")
    mode: Literal["shadow", "live"] | None = Field(
        None,
        description="shadow: the candidate answers in the background and agreement is recorded, the LLM's answer "
        "is returned; live: its answer is returned. Default: as the approval's rollout asked (shadow first or not)",
    )
    canary_percent: StrictInt | None = Field(
        None, ge=0, le=100, description="The share of the task's calls it takes (%); default: the approval's rollout"
    )


class DeploymentPatchIn(InSchema):
    """What is not given stays as it is."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["shadow", "live"] | None = None
    canary_percent: StrictInt | None = Field(None, ge=0, le=100)
    production_sample_percent: StrictInt | None = Field(
        None, ge=0, le=100, description="Live: the share of the specialist's calls also sent to the LLM and scored"
    )


class DeploymentFilterIn(InSchema):
    active: bool | None = Field(None, description="true: only those not stopped; false: only the stopped")


class DeploymentOut(Schema):
    id: UUID
    cluster: UUID = Field(description="The task")
    approval: UUID
    evaluation: UUID
    candidate: str = Field(description="The candidate in a few words")
    backend: str = Field(description="endpoint, classifier, local_lora (transformers + peft, CPU) or vllm_lora")
    mode: str = Field(description="shadow or live")
    canary_percent: int
    status: str = Field(description="starting, serving, stopped or failed")
    healthy: bool = Field(description="Whether its backend answered the last health check")
    routes_to_specialist: bool = Field(
        description="Whether the candidate takes its share of calls now; if not, they go to the LLM"
    )
    health_message: str
    last_checked_at: datetime | None
    production_sample_percent: int = Field(
        description="Live: the share of the specialist's calls also sent to the LLM in the background and scored"
    )
    tripped_at: datetime | None = Field(description="When the circuit breaker sent its calls back to the LLM")
    tripped_reason: str
    who: str = Field(description="Who deployed it: a username, or 'API key <name>'")
    created_at: datetime
    updated_at: datetime
    stopped_at: datetime | None

    @staticmethod
    def resolve_cluster(obj: Deployment) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_approval(obj: Deployment) -> UUID:
        return obj.approval_id

    @staticmethod
    def resolve_evaluation(obj: Deployment) -> UUID:
        return obj.evaluation_id

    @staticmethod
    def resolve_candidate(obj: Deployment) -> str:
        return obj.evaluation.candidate_name


class DeploymentListOut(Schema):
    items: list[DeploymentOut]


class RollbackIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    to: Literal["previous", "llm"] = Field(
        "previous", description="previous: the specialist that served the task before; llm: the task goes back to it"
    )
    comment: str = Field("", max_length=2000, description="Why; recorded on the approval records and the event")


class EventOut(Schema):
    id: UUID
    kind: str = Field(description="breaker_tripped, reenabled, rollback or retrain_proposed")
    cluster: UUID = Field(description="The task")
    deployment: UUID | None
    message: str
    figures: dict[str, Any] = Field(
        description="What tripped the breaker, what a rollback changed, or the drift figures that proposed retraining"
    )
    who: str
    created_at: datetime

    @staticmethod
    def resolve_cluster(obj: ServingEvent) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_deployment(obj: ServingEvent) -> UUID | None:
        return obj.deployment_id


class EventListOut(Schema):
    items: list[EventOut]


class EventFilterIn(InSchema):
    kind: Literal["breaker_tripped", "reenabled", "rollback", "retrain_proposed"] | None = None
    task: UUID | None = Field(None, description="Only this task's events")
    limit: int = Field(100, ge=1, le=1000)


class RollbackOut(Schema):
    deployment: DeploymentOut | None = Field(description="The specialist now deployed; null: the task is on the LLM")
    event: EventOut


class RetrainReasonOut(Schema):
    code: str = Field(description="new_calls, low_fit or unassigned")
    message: str


class RetrainProposalOut(Schema):
    id: UUID
    task: UUID
    deployment: UUID | None = Field(description="The deployment whose specialist it retrains")
    status: str = Field(description="proposed, running, awaiting_approval, dismissed or failed")
    step: str = Field(description="dataset, training, evaluation or approval; empty until it starts")
    percent: int = Field(description="The round's progress, a third per job")
    message: str
    reasons: list[RetrainReasonOut]
    figures: dict[str, Any] = Field(description="What the drift check measured (apps.serving.drift)")
    dataset: UUID | None
    training_run: UUID | None
    evaluation: UUID | None
    approval: UUID | None = Field(description="The approval request of the retrained candidate")
    who: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_task(obj: RetrainProposal) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_deployment(obj: RetrainProposal) -> UUID | None:
        return obj.deployment_id

    @staticmethod
    def resolve_dataset(obj: RetrainProposal) -> UUID | None:
        return obj.dataset_id

    @staticmethod
    def resolve_training_run(obj: RetrainProposal) -> UUID | None:
        return obj.training_run_id

    @staticmethod
    def resolve_evaluation(obj: RetrainProposal) -> UUID | None:
        return obj.evaluation_id

    @staticmethod
    def resolve_approval(obj: RetrainProposal) -> UUID | None:
        return obj.approval_id


class RetrainProposalListOut(Schema):
    items: list[RetrainProposalOut]


class RetrainFilterIn(InSchema):
    task: UUID | None = Field(None, description="Only this task's")
    status: Literal["proposed", "running", "awaiting_approval", "dismissed", "failed"] | None = None
