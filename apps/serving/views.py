"""The task's deployment page: the candidate serving the task (mode, canary share, backend health) and the
past ones; owners and admins start a deployment from the approval in force, change its mode or canary
share, and stop it. Its retraining panel shows a proposal of the drift check and, once started with one
click, its round (dataset, training run, evaluation, approval request), polling while it runs. Every form
posts to a view calling the services, and works without JavaScript."""

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from apps.approvals import selectors as approvals
from apps.approvals.services import DEFAULT_ROLLOUT, Actor
from apps.common import errors
from apps.common.pages import render_page, wants_fragment
from apps.discovery.models import TaskCluster
from apps.discovery.selectors import task_cluster_get
from apps.evaluation.selectors import evaluation_candidate
from apps.projects.forms import add_domain_error
from apps.projects.pages import ProjectRequest, project_page, require_ability
from apps.serving import retraining, selectors, services
from apps.serving.breaker import deployment_window
from apps.serving.forms import DeploymentChangeForm, DeploymentStartForm, RollbackForm
from apps.serving.interventions import deployment_reenable, deployment_rollback
from apps.serving.models import Deployment, DeploymentMode, DeploymentStatus, RetrainProposal

TEMPLATE = "serving/deployment.html"
FRAGMENT = "deployment-panel"
RETRAIN_FRAGMENT = "retrain-panel"
DEPLOY = "approve"  # the ability the services check: owners and admins
T = TypeVar("T")


def _start_initial(rollout: dict[str, Any] | None) -> dict[str, Any]:
    rollout = {**DEFAULT_ROLLOUT, **(rollout or {})}
    mode = DeploymentMode.SHADOW if rollout.get("shadow", True) else DeploymentMode.LIVE
    return {"mode": mode.value, "canary_percent": rollout.get("canary_percent")}


def panel_context(
    request: ProjectRequest,
    cluster: TaskCluster,
    *,
    start_form: DeploymentStartForm | None = None,
    change_form: DeploymentChangeForm | None = None,
    rollback_form: RollbackForm | None = None,
    notice: str = "",
) -> dict[str, Any]:
    deployments = list(selectors.deployment_list(project=request.project, cluster=cluster))
    rows: list[dict[str, Any]] = [
        {"deployment": d, "candidate": evaluation_candidate(d.evaluation)} for d in deployments
    ]
    current = next((row for row in rows if row["deployment"].status != DeploymentStatus.STOPPED), None)
    in_force = approvals.swap_approval_in_force(records=approvals.swap_records(cluster=cluster))
    if current is not None and change_form is None:
        deployment = current["deployment"]
        change_form = DeploymentChangeForm(
            initial={
                "mode": deployment.mode,
                "canary_percent": deployment.canary_percent,
                "production_sample_percent": deployment.production_sample_percent,
            }
        )
    if current is not None:
        live = current["deployment"].mode == DeploymentMode.LIVE
        current["window"] = deployment_window(current["deployment"]) if live else None
        current["has_previous"] = any(
            row["deployment"].evaluation_id != current["deployment"].evaluation_id for row in rows
        )
    if start_form is None:
        start_form = DeploymentStartForm(initial=_start_initial(in_force.rollout if in_force else None))
    for form, prefix in ((start_form, "start"), (change_form, "change")):
        if form is not None:
            form.auto_id = f"{prefix}-%s"
            form.use_required_attribute = False
    return {
        "cluster": cluster,
        "current": current,
        "past": [row for row in rows if row is not current],
        "in_force": in_force,
        "can_deploy": request.membership.can(DEPLOY),
        "start_form": start_form,
        "change_form": change_form,
        "notice": notice,
        "modes": DeploymentMode,
        "rollback_form": rollback_form or RollbackForm(auto_id="rollback-%s"),
        "events": list(selectors.serving_event_list(project=request.project, task_id=cluster.id)[:20]),
        "proposal": selectors.retrain_proposal_shown(cluster=cluster),
    }


def _render(request: ProjectRequest, cluster: TaskCluster, *, status: int = 200, **forms: Any) -> HttpResponse:
    return render_page(request, TEMPLATE, panel_context(request, cluster, **forms), fragment=FRAGMENT, status=status)


def _done(request: ProjectRequest, cluster: TaskCluster, notice: str) -> HttpResponse:
    if wants_fragment(request):
        return _render(request, cluster, notice=notice)
    messages.success(request, notice)
    return redirect("serving:deployment", slug=request.project.slug, cluster_id=cluster.id)


def _deployment(request: ProjectRequest, cluster: TaskCluster, deployment_id: UUID) -> Deployment:
    deployment = selectors.deployment_get(project=request.project, deployment_id=deployment_id)
    if deployment.cluster_id != cluster.id:
        raise errors.NotFound("No such deployment on this task")
    return deployment


def _submit(
    request: ProjectRequest, cluster: TaskCluster, form: forms.Form, slot: str, action: Callable[[], T]
) -> T | HttpResponse:
    """Run a service for a valid form: its result, or the panel again with the service's error on its field
    (the form under `slot` in the context). Not found and forbidden go up as they are."""
    try:
        return action()
    except (errors.NotFound, errors.PermissionDenied):
        raise
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _render(request, cluster, status=exc.status, **{slot: form})


@require_GET
@project_page("view")
def deployment(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    return _render(request, cluster)


@require_POST
@project_page("view")
def start(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    """Deploy the candidate of the task's approval in force, in the mode and canary share given."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    form = DeploymentStartForm(request.POST)
    if not form.is_valid():
        return _render(request, cluster, start_form=form, status=400)
    in_force = approvals.swap_approval_in_force(records=approvals.swap_records(cluster=cluster))
    if in_force is None:
        form.add_error(None, "No candidate is approved for this task: approve one on its evaluation report first.")
        return _render(request, cluster, start_form=form, status=409)
    deployed = _submit(
        request,
        cluster,
        form,
        "start_form",
        lambda: services.deployment_create(
            approval=in_force,
            actor=Actor(user=request.user),
            mode=form.cleaned_data["mode"],
            canary_percent=form.cleaned_data["canary_percent"],
        ),
    )
    if isinstance(deployed, HttpResponse):
        return deployed
    return _done(request, cluster, f"Deployed in {deployed.mode} at {deployed.canary_percent}% of the task's calls.")


@require_POST
@project_page("view")
def change(request: ProjectRequest, cluster_id: UUID, deployment_id: UUID) -> HttpResponse:
    """Change the mode (switch to live) or the canary share; what is not given stays."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    found = _deployment(request, cluster, deployment_id)
    form = DeploymentChangeForm(request.POST)
    if not form.is_valid():
        return _render(request, cluster, change_form=form, status=400)
    changed = _submit(
        request,
        cluster,
        form,
        "change_form",
        lambda: services.deployment_update(
            deployment=found,
            actor=Actor(user=request.user),
            mode=form.cleaned_data["mode"] or None,
            canary_percent=form.cleaned_data["canary_percent"],
            production_sample_percent=form.cleaned_data["production_sample_percent"],
        ),
    )
    if isinstance(changed, HttpResponse):
        return changed
    return _done(request, cluster, f"Now {changed.mode} at {changed.canary_percent}% of the task's calls.")


@require_POST
@project_page("view")
def stop(request: ProjectRequest, cluster_id: UUID, deployment_id: UUID) -> HttpResponse:
    """Take the candidate off the task: its calls go back to the LLM."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    services.deployment_stop(deployment=_deployment(request, cluster, deployment_id), actor=Actor(user=request.user))
    return _done(request, cluster, "Stopped: the task's calls go to the LLM.")


@require_POST
@project_page("view")
def reenable(request: ProjectRequest, cluster_id: UUID, deployment_id: UUID) -> HttpResponse:
    """A deployment its circuit breaker tripped takes its share of the calls again."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    found = _deployment(request, cluster, deployment_id)
    try:
        deployment_reenable(deployment=found, actor=Actor(user=request.user))
    except errors.Conflict as exc:
        return _done(request, cluster, exc.message)
    return _done(request, cluster, "Re-enabled: the specialist takes its share of the calls again.")


@require_POST
@project_page("view")
def rollback(request: ProjectRequest, cluster_id: UUID, deployment_id: UUID) -> HttpResponse:
    """Return the task to the specialist that served it before, or to the LLM (approval records and an event)."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    found = _deployment(request, cluster, deployment_id)
    form = RollbackForm(request.POST, auto_id="rollback-%s")
    if not form.is_valid():
        return _render(request, cluster, rollback_form=form, status=400)
    result = _submit(
        request,
        cluster,
        form,
        "rollback_form",
        lambda: deployment_rollback(
            deployment=found,
            actor=Actor(user=request.user),
            to=form.cleaned_data["to"],
            comment=form.cleaned_data["comment"],
        ),
    )
    if isinstance(result, HttpResponse):
        return result
    replacement, _ = result
    if replacement is None:
        return _done(request, cluster, "Rolled back: the task's calls go to the LLM.")
    return _done(
        request,
        cluster,
        f"Rolled back to {replacement.evaluation.candidate_name}, {replacement.mode} at {replacement.canary_percent}%.",
    )


# --- retraining ---------------------------------------------------------------------------------------------


def _retrain_done(
    request: ProjectRequest, cluster: TaskCluster, *, notice: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    if wants_fragment(request) or error:
        context = panel_context(request, cluster) | {"retrain_notice": notice, "retrain_error": error}
        return render_page(request, TEMPLATE, context, fragment=RETRAIN_FRAGMENT, status=status)
    messages.success(request, notice)
    return redirect("serving:deployment", slug=request.project.slug, cluster_id=cluster.id)


def _proposal(request: ProjectRequest, cluster: TaskCluster, proposal_id: UUID) -> RetrainProposal:
    proposal = selectors.retrain_proposal_get(project=request.project, proposal_id=proposal_id)
    if proposal.cluster_id != cluster.id:
        raise errors.NotFound("No such retraining proposal on this task")
    return proposal


@require_GET
@project_page("view")
def retrain(request: ProjectRequest, cluster_id: UUID) -> HttpResponse:
    """The retraining panel alone (what a running round polls), or the whole page."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    context = panel_context(request, cluster)
    return render_page(request, TEMPLATE, context, fragment=RETRAIN_FRAGMENT)


@require_POST
@project_page("view")
def retrain_start(request: ProjectRequest, cluster_id: UUID, proposal_id: UUID) -> HttpResponse:
    """One click: the round starts (dataset, training run, evaluation, approval request)."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    try:
        retraining.retrain_proposal_start(
            proposal=_proposal(request, cluster, proposal_id), actor=Actor(user=request.user)
        )
    except (errors.NotFound, errors.PermissionDenied):
        raise
    except errors.DomainError as exc:
        return _retrain_done(request, cluster, error=exc.message, status=exc.status)
    return _retrain_done(request, cluster, notice="Retraining started: the dataset is being built.")


@require_POST
@project_page("view")
def retrain_dismiss(request: ProjectRequest, cluster_id: UUID, proposal_id: UUID) -> HttpResponse:
    """Not now: the drift check stays quiet about this specialist for RETRAIN_QUIET_DAYS."""
    cluster = task_cluster_get(project=request.project, cluster_id=cluster_id)
    require_ability(request, DEPLOY)
    try:
        retraining.retrain_proposal_dismiss(
            proposal=_proposal(request, cluster, proposal_id), actor=Actor(user=request.user)
        )
    except (errors.NotFound, errors.PermissionDenied):
        raise
    except errors.DomainError as exc:
        return _retrain_done(request, cluster, error=exc.message, status=exc.status)
    return _retrain_done(request, cluster, notice="Retraining dismissed.")
