from datetime import datetime
from uuid import UUID

from ninja import Schema
from pydantic import Field


class EntitySettingOut(Schema):
    type: str = Field(description="The entity type, such as EMAIL_ADDRESS")
    enabled: bool
    threshold: float = Field(description="The lowest confidence, 0 to 1, at which a finding is redacted")
    ner_only: bool = Field(description="Found only by an NER model: no effect while the policy has no ner_model")


class CustomRecognizerOut(Schema):
    entity: str = Field(description="The type findings of this pattern are reported as")
    pattern: str = Field(description="A regular expression")
    score: float


class CurationPolicyOut(Schema):
    version: int = Field(description="Goes up with each saved change; a call keeps the version it was curated under")
    entities: list[EntitySettingOut] = Field(description="Every type a policy can switch, defaults filled in")
    allow_list: list[str] = Field(description="Values never redacted (case-insensitive)")
    custom_recognizers: list[CustomRecognizerOut]
    operator: str = Field(description="replace, mask or pseudonymise: what a found value becomes")
    ner_model: str = Field(
        description="The NER model that finds people, places, groups and organisations: an installed spaCy "
        "package name, or a folder (spaCy or transformers); empty for the pattern engine alone"
    )
    max_call_tokens: int = Field(description="Calls with more prompt and completion tokens are not used for training")
    updated_at: datetime


class TypeCountOut(Schema):
    type: str
    findings: int


class FieldCountOut(Schema):
    field: str = Field(description="Where in a call the values were found, such as request.messages")
    findings: int


class ExclusionOut(Schema):
    reason: str
    label: str
    calls: int


class CurationReportOut(Schema):
    policy_version: int
    total_calls: int
    calls_affected: int = Field(description="Calls in which at least one value was redacted")
    findings: int = Field(description="Values found and redacted, all types together")
    by_type: list[TypeCountOut] = Field(description="Most findings first")
    top_fields: list[FieldCountOut] = Field(description="The ten fields with the most findings")
    trainable: int = Field(description="Calls that may become training data")
    excluded: list[ExclusionOut] = Field(description="Calls kept out of training data, by reason")
    stale_calls: int = Field(description="Calls curated under an older policy version: due for a re-scan")


class RescanJobOut(Schema):
    id: UUID
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    stage: str
    progress: float = Field(description="0 to 1")
    message: str
    policy_version: int = Field(description="The policy version the calls are re-curated under")
    total: int = Field(description="Calls to re-scan")
    done: int = Field(description="Calls re-scanned so far")
    changed: int = Field(description="Re-scanned calls whose content or training eligibility changed")
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
