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
from apps.serving import selectors, services
from apps.serving.models import Deployment
from apps.serving.schemas import DeploymentFilterIn, DeploymentIn, DeploymentListOut, DeploymentOut, DeploymentPatchIn

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
