"""Curation over the API: read the policy and what redaction found, start a re-scan (202) and poll it."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from apps.common.schemas import ErrorOut
from apps.curation import eligibility, selectors, services
from apps.curation.models import RescanJob
from apps.curation.schemas import CurationPolicyOut, CurationReportOut, RescanJobOut
from apps.projects.auth import ProjectApiKey, require_scope
from apps.projects.models import ApiKeyScope

router = Router(tags=["curation"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut}


@router.get(
    "/curation/policy",
    response={200: CurationPolicyOut, **_ERRORS},
    summary="Get the curation policy",
    description="How the project's calls are scanned and redacted before storage, and which may become training data.",
)
def get_curation_policy(request: HttpRequest) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    policy = selectors.curation_policy_get(project=key.project)
    return {
        "version": policy.version,
        "entities": [
            {"type": entity, **setting, "ner_only": entity in services.NER_ONLY_TYPES}
            for entity, setting in services.policy_entities(policy).items()
        ],
        "allow_list": policy.allow_list,
        "custom_recognizers": policy.custom_recognizers,
        "operator": policy.operator,
        "ner_model": policy.ner_model_path,
        "max_call_tokens": policy.max_call_tokens,
        "updated_at": policy.updated_at,
    }


@router.get(
    "/curation/report",
    response={200: CurationReportOut, **_ERRORS},
    summary="Get the curation report",
    description=(
        "What redaction found (counts by type and field, never values), training eligibility, and how many "
        "calls were curated under an older policy version."
    ),
)
def get_curation_report(request: HttpRequest) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    report = selectors.curation_report_get(project=key.project)
    policy = selectors.curation_policy_get(project=key.project)
    return {
        "policy_version": policy.version,
        "total_calls": report.total_calls,
        "calls_affected": report.calls_affected,
        "findings": report.findings,
        "by_type": [{"type": t, "findings": n} for t, n in report.by_type],
        "top_fields": [{"field": f, "findings": n} for f, n in report.top_fields],
        "trainable": report.trainable,
        "excluded": [
            {"reason": r, "label": eligibility.REASON_LABELS.get(r, r), "calls": n} for r, n in report.excluded
        ],
        "stale_calls": selectors.stale_call_count(project=key.project, policy=policy),
    }


@router.post(
    "/rescans",
    response={202: RescanJobOut, 409: ErrorOut, **_ERRORS},
    summary="Start a re-scan",
    description=(
        "Queues a job that re-curates the calls stored under an older policy version: new findings are "
        "redacted and training eligibility is worked out again. Poll the job for its progress. "
        "409 while another re-scan is queued or running."
    ),
)
def create_rescan(request: HttpRequest) -> Status[RescanJob]:
    key = require_scope(request, ApiKeyScope.DISCOVER)
    return Status(202, services.rescan_job_create(project=key.project, created_by=None))


@router.get("/rescans/{job_id}", response={200: RescanJobOut, 404: ErrorOut, **_ERRORS}, summary="Get a re-scan")
def get_rescan(request: HttpRequest, job_id: str) -> RescanJob:
    key = require_scope(request, ApiKeyScope.READ)
    return selectors.rescan_job_get(project=key.project, job_id=job_id)
