from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field

from apps.common.schemas import InSchema, Instant
from apps.monitoring.selectors import Bucket, Counts, TaskOffload


class OffloadFilterIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    since: Instant | None = Field(None, description="From this time (ISO 8601); default: 7 days before until")
    until: Instant | None = Field(None, description="Before this time (ISO 8601); default: now")


class CountsOut(Schema):
    calls: int = Field(description="The gateway's calls")
    specialist_calls: int = Field(description="Answered by a specialist")
    escalated_calls: int = Field(description="A specialist's answer failed its check; the LLM's was returned")
    shadow_calls: int = Field(description="The LLM answered; a specialist answered in the background")
    llm_calls: int = Field(description="Sent to the LLM only")
    share_offloaded: float | None = Field(description="specialist_calls / calls; null with no calls")
    cost: Decimal = Field(description="USD: LLM answers at their logged cost, a specialist's at its serving cost")
    cost_all_llm: Decimal = Field(description="USD had every call been answered by the LLM")
    saved: Decimal = Field(description="cost_all_llm - cost, USD")
    shadow_agreement: float | None = Field(description="Shadow calls' agreement with the LLM; null with none")
    shadow_agreement_low: float | None = Field(description="Its 95% Wilson interval")
    shadow_agreement_high: float | None = None


def counts_fields(counts: Counts) -> dict[str, object]:
    """A Counts as CountsOut's fields."""
    agreement = counts.agreement
    return {
        "calls": counts.calls,
        "specialist_calls": counts.specialist_calls,
        "escalated_calls": counts.escalated_calls,
        "shadow_calls": counts.shadow_calls,
        "llm_calls": counts.llm_calls,
        "share_offloaded": counts.share_offloaded,
        "cost": counts.cost,
        "cost_all_llm": counts.cost_all_llm,
        "saved": counts.saved,
        "shadow_agreement": agreement.estimate if agreement else None,
        "shadow_agreement_low": agreement.low if agreement else None,
        "shadow_agreement_high": agreement.high if agreement else None,
    }


class DayOut(CountsOut):
    day: date = Field(description="The day, in the server's TIME_ZONE")


def day_fields(bucket: Bucket) -> dict[str, object]:
    return {"day": bucket.at.date(), **counts_fields(bucket.counts)}


class TaskOffloadOut(CountsOut):
    task: UUID | None = Field(description="The task; null for calls in no task")
    name: str = ""
    state: str = Field(description="LLM only, Shadow at N%, Live at N% (and why not serving)")
    deployment: UUID | None = Field(description="Its deployment now, if any")
    evaluated_agreement_low: float | None = Field(description="The approved evaluation's 95% interval")
    evaluated_agreement_high: float | None = None
    agreement_check: str = Field(description="Shadow agreement against that interval: below, within, above or ''")


def task_fields(row: TaskOffload) -> dict[str, object]:
    evaluated = row.evaluated
    return {
        "task": row.task_id,
        "name": f"{row.task.code} {row.task.name}" if row.task else "",
        "state": row.state,
        "deployment": row.deployment.id if row.deployment else None,
        "evaluated_agreement_low": evaluated.low if evaluated else None,
        "evaluated_agreement_high": evaluated.high if evaluated else None,
        "agreement_check": row.agreement_check,
        **counts_fields(row.counts),
    }


class OffloadOut(CountsOut):
    since: datetime
    until: datetime
    saved_per_day: Decimal = Field(description="saved / the period's days")
    saved_per_month: Decimal = Field(description="saved_per_day x 30")
    by_day: list[DayOut]
    by_task: list[TaskOffloadOut]
