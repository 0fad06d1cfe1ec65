"""Swap approvals over the API: record a decision on an evaluated candidate, list the decisions."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.approvals import selectors, services
from apps.approvals.models import SwapApproval
from apps.approvals.schemas import ApprovalFilterIn, ApprovalIn, ApprovalOut, ApprovalPageOut
from apps.common.errors import NotFound
from apps.common.schemas import ErrorOut
from apps.discovery.selectors import task_cluster_get
from apps.evaluation import selectors as evaluation_selectors
from apps.evaluation.models import Evaluation
from apps.projects.auth import ProjectApiKey, require_scope
from apps.projects.models import ApiKeyScope, Project

router = Router(tags=["approvals"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _evaluation(project: Project, evaluation_id: Any) -> Evaluation:
    try:
        return evaluation_selectors.evaluation_get(project=project, evaluation_id=evaluation_id)
    except NotFound as exc:
        raise NotFound(exc.message, field="evaluation") from exc


@router.post(
    "/approvals",
    response={201: ApprovalOut, **_ERRORS},
    summary="Record a swap decision",
    description=(
        "A new, immutable record on an evaluated candidate: `request` approval (a key with the 'discover' scope), "
        "or `approve`, `reject` or `revoke` (a key with the 'approve' scope, which only owners and admins of "
        "the project can grant). Approve and reject need a `comment`; approving a candidate whose verdict is "
        "not ready needs `reason_not_ready`. The evaluation's evidence is copied into the record. A task has "
        "at most one approved candidate: revoke it before approving another (409). An evaluation that has not "
        "finished is a 409."
    ),
)
def create_approval(request: HttpRequest, payload: ApprovalIn) -> Status[SwapApproval]:
    key = require_scope(request, ApiKeyScope.DISCOVER if payload.decision == "request" else ApiKeyScope.APPROVE)
    approval = services.swap_approval_record(
        evaluation=_evaluation(key.project, payload.evaluation),
        actor=services.Actor(api_key=key),
        decision=payload.decision,
        comment=payload.comment,
        reason_not_ready=payload.reason_not_ready,
        rollout=payload.rollout.given() if payload.rollout is not None else None,
    )
    return Status(201, approval)


@router.get(
    "/approvals",
    response={200: ApprovalPageOut, **_ERRORS},
    summary="List swap decisions, newest first",
    description="The project's audit: every request, approval, rejection and revocation, with its evidence.",
)
def list_approvals(request: HttpRequest, filters: Query[ApprovalFilterIn]) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    cluster = None
    if filters.cluster is not None:
        try:
            cluster = task_cluster_get(project=key.project, cluster_id=filters.cluster)
        except NotFound as exc:
            raise NotFound(exc.message, field="cluster") from exc
    evaluation = _evaluation(key.project, filters.evaluation) if filters.evaluation is not None else None
    page = selectors.swap_approval_page(
        project=key.project, cluster=cluster, evaluation=evaluation, cursor=filters.cursor, limit=filters.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}
