from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field

from apps.approvals.models import SwapApproval
from apps.common.schemas import InSchema


class RolloutIn(InSchema):
    """How the candidate takes over once approved; what is not given keeps its default (or, approving a
    requested candidate, the value requested)."""

    model_config = ConfigDict(extra="forbid")

    shadow: bool | None = Field(None, description="Run it in shadow first: it answers alongside the LLM, unused")
    canary_percent: int | None = Field(None, ge=0, le=100, description="The share of calls it then answers (%)")
    escalate_on_invalid: bool | None = Field(
        None, description="Send a call to the LLM when the candidate's answer fails validation"
    )

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ApprovalIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    evaluation: UUID = Field(description="The evaluation of the candidate decided on")
    decision: Literal["request", "approve", "reject", "revoke"] = Field(
        description="request (engineers; the 'discover' scope), or approve, reject or revoke (owners and admins; "
        "the 'approve' scope)"
    )
    comment: str = Field("", max_length=4000, description="Why; required except for a request")
    reason_not_ready: str = Field(
        "", max_length=4000, description="Required to approve a candidate whose verdict is not 'ready'"
    )
    rollout: RolloutIn | None = Field(None, description="For request and approve")


class ApprovalOut(Schema):
    id: UUID
    evaluation: UUID
    cluster: UUID
    decision: str = Field(description="request, approve, reject or revoke")
    revokes: UUID | None = Field(description="The approval a revocation revokes")
    comment: str
    reason_not_ready: str
    rollout: dict[str, Any] = Field(description="shadow, canary_percent, escalate_on_invalid; empty when not asked")
    verdict: str = Field(description="The evaluation's verdict when the decision was taken")
    evidence: dict[str, Any] = Field(
        description="A frozen copy of the evaluation: candidate (endpoint or artifact hash), agreement and its "
        "interval, verdict, test hash, metrics, latency and cost"
    )
    who: str = Field(description="The person's username, or 'API key <name>'")
    created_at: datetime

    @staticmethod
    def resolve_evaluation(obj: SwapApproval) -> UUID:
        return obj.evaluation_id

    @staticmethod
    def resolve_cluster(obj: SwapApproval) -> UUID:
        return obj.cluster_id

    @staticmethod
    def resolve_revokes(obj: SwapApproval) -> UUID | None:
        return obj.revokes_id


class ApprovalFilterIn(InSchema):
    cluster: UUID | None = Field(None, description="Only this task's decisions")
    evaluation: UUID | None = Field(None, description="Only the decisions on this evaluation")
    cursor: str | None = Field(None, description="next_cursor from the previous page")
    limit: int = Field(50, ge=1, le=200)


class ApprovalPageOut(Schema):
    items: list[ApprovalOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
