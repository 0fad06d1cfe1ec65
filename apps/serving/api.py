"""Deployments over the API: put an approved candidate behind its task, change its mode or canary share,
stop it, list them."""

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.approvals import selectors as approvals
from apps.approvals.services import Actor
from apps.common.schemas import ErrorOut
from apps.projects.auth import ProjectApiKey, require_scope
from apps.projects.models import ApiKeyScope
from apps.serving import retraining, selectors, services
from apps.serving.interventions import deployment_reenable, deployment_rollback
from apps.serving.models import Deployment, RetrainProposal
from apps.serving.schemas import (
    DeploymentFilterIn,
    DeploymentIn,
    DeploymentListOut,
    DeploymentOut,
    DeploymentPatchIn,
    EventFilterIn,
    EventListOut,
    RetrainFilterIn,
    RetrainProposalListOut,
    RetrainProposalOut,
    RollbackIn,
    RollbackOut,
)

router = Router(tags=["serving"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post(
    "/deployments",
    response={201: DeploymentOut, **_ERRORS},
    summary="Deploy an approved candidate",
    description="Puts the candidate of a swap approval in force behind its task, in `shadow` or `live` mode with a "
    "canary percentage (both default to the rollout approved). Needs a key with the 'approve' scope. An approval "
    "that was revoked or replaced, a rejection or a request is a 409; so is a task that has a deployment already "
    "(stop it first).",
)
def create_deployment(request: HttpRequest, payload: DeploymentIn) -> Status[Deployment]:
    key = require_scope(request, ApiKeyScope.APPROVE)
    deployment = services.deployment_create(
        approval=approvals.swap_approval_get(project=key.project, approval_id=payload.approval, field="approval"),
        actor=Actor(api_key=key),
        mode=payload.mode,
        canary_percent=payload.canary_percent,
    )
    return Status(201, deployment)


@router.patch(
    "/deployments/{deployment_id}",
    response={200: DeploymentOut, **_ERRORS},
    summary="Change a deployment's mode or canary share",
    description="Needs a key with the 'approve' scope. A stopped deployment, or one whose approval is no longer in "
    "force, is a 409.",
)
def update_deployment(request: HttpRequest, deployment_id: UUID, payload: DeploymentPatchIn) -> Deployment:
    key = require_scope(request, ApiKeyScope.APPROVE)
    return services.deployment_update(
        deployment=selectors.deployment_get(project=key.project, deployment_id=deployment_id),
        actor=Actor(api_key=key),
        mode=payload.mode,
        canary_percent=payload.canary_percent,
        production_sample_percent=payload.production_sample_percent,
    )


@router.delete(
    "/deployments/{deployment_id}",
    response={200: DeploymentOut, **_ERRORS},
    summary="Stop a deployment",
    description="The task's calls go back to the LLM; the deployment stays listed, stopped. Needs a key with the "
    "'approve' scope.",
)
def stop_deployment(request: HttpRequest, deployment_id: UUID) -> Deployment:
    key = require_scope(request, ApiKeyScope.APPROVE)
    return services.deployment_stop(
        deployment=selectors.deployment_get(project=key.project, deployment_id=deployment_id), actor=Actor(api_key=key)
    )


@router.get(
    "/deployments",
    response={200: DeploymentListOut, **_ERRORS},
    summary="List the deployments, newest first",
)
def list_deployments(request: HttpRequest, filters: Query[DeploymentFilterIn]) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    return {"items": list(selectors.deployment_list(project=key.project, active=filters.active))}


@router.post(
    "/deployments/{deployment_id}/rollback",
    response={200: RollbackOut, **_ERRORS},
    summary="Roll a task back to its previous specialist or to the LLM",
    description="Revokes the deployment's approval (which stops it) and, with `to: previous`, approves the "
    "specialist that served the task before again and deploys it as it ran; with `to: llm` the task goes back to "
    "the LLM. Approval records and an event say so. Needs a key with the 'approve' scope. A stopped deployment, or "
    "no earlier specialist for `previous`, is a 409.",
)
def rollback_deployment(request: HttpRequest, deployment_id: UUID, payload: RollbackIn) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.APPROVE)
    deployment, event = deployment_rollback(
        deployment=selectors.deployment_get(project=key.project, deployment_id=deployment_id),
        actor=Actor(api_key=key),
        to=payload.to,
        comment=payload.comment,
    )
    return {"deployment": deployment, "event": event}


@router.post(
    "/deployments/{deployment_id}/reenable",
    response={200: DeploymentOut, **_ERRORS},
    summary="Re-enable a deployment its circuit breaker tripped",
    description="It takes its share of the task's calls again; the breaker counts only calls from now on. Needs a "
    "key with the 'approve' scope. A deployment that has not tripped, or is stopped, is a 409.",
)
def reenable_deployment(request: HttpRequest, deployment_id: UUID) -> Deployment:
    key = require_scope(request, ApiKeyScope.APPROVE)
    return deployment_reenable(
        deployment=selectors.deployment_get(project=key.project, deployment_id=deployment_id), actor=Actor(api_key=key)
    )


@router.get(
    "/events",
    response={200: EventListOut, **_ERRORS},
    summary="Serving events: breaker trips, re-enables, rollbacks, retraining proposed; newest first",
)
def list_events(request: HttpRequest, filters: Query[EventFilterIn]) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    return {
        "items": list(
            selectors.serving_event_list(project=key.project, kind=filters.kind, task_id=filters.task)[: filters.limit]
        )
    }


@router.get(
    "/retrain-proposals",
    response={200: RetrainProposalListOut, **_ERRORS},
    summary="Retraining proposals and rounds, newest first",
    description="Raised by the drift check for a task whose specialist in production no longer fits its calls, "
    "with the reasons and figures; a started one shows its round: dataset, training run, evaluation, approval.",
)
def list_retrain_proposals(request: HttpRequest, filters: Query[RetrainFilterIn]) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    proposals = selectors.retrain_proposal_list(project=key.project, task_id=filters.task, status=filters.status)
    return {"items": list(proposals[:100])}


@router.get(
    "/retrain-proposals/{proposal_id}",
    response={200: RetrainProposalOut, **_ERRORS},
    summary="One retraining proposal and its round",
)
def get_retrain_proposal(request: HttpRequest, proposal_id: UUID) -> RetrainProposal:
    key = require_scope(request, ApiKeyScope.READ)
    return selectors.retrain_proposal_get(project=key.project, proposal_id=proposal_id)


@router.post(
    "/retrain-proposals/{proposal_id}/start",
    response={202: RetrainProposalOut, **_ERRORS},
    summary="Run the retraining round",
    description="Builds a dataset of the task's calls now (the frozen test split unchanged), trains from the recipe "
    "of the specialist in production, evaluates it on the same test split, and requests approval of it: nothing "
    "is deployed until an owner approves. Needs a key with the 'approve' and 'discover' scopes. A proposal that is "
    "not waiting to start, or whose specialist is no longer deployed, is a 409.",
)
def start_retrain_proposal(request: HttpRequest, proposal_id: UUID) -> Status[RetrainProposal]:
    key = require_scope(request, ApiKeyScope.APPROVE)
    proposal = retraining.retrain_proposal_start(
        proposal=selectors.retrain_proposal_get(project=key.project, proposal_id=proposal_id),
        actor=Actor(api_key=key),
    )
    return Status(202, proposal)


@router.post(
    "/retrain-proposals/{proposal_id}/dismiss",
    response={200: RetrainProposalOut, **_ERRORS},
    summary="Dismiss a retraining proposal",
    description="The drift check does not propose it again for RETRAIN_QUIET_DAYS. Needs a key with the 'approve' "
    "scope. A running round, or one awaiting approval, is a 409.",
)
def dismiss_retrain_proposal(request: HttpRequest, proposal_id: UUID) -> RetrainProposal:
    key = require_scope(request, ApiKeyScope.APPROVE)
    return retraining.retrain_proposal_dismiss(
        proposal=selectors.retrain_proposal_get(project=key.project, proposal_id=proposal_id),
        actor=Actor(api_key=key),
    )
