"""Writes: retraining a specialist in production (step S6). The drift check (Celery beat, every
RETRAIN_CHECK_S) proposes it for a task, with its reasons and figures (apps.serving.drift) and an event; an
owner or admin starts the round with one click, or dismisses it.

The round reuses the services that make each step's job row: a dataset of the task's calls now
(dataset_create: the frozen test split is kept, new calls only go to train and validation), a training run
from the specialist's recipe (same kind, base model, method and parameters), an evaluation on the task's
frozen test split, then a request for approval (swap_approval_request), so the candidate sits beside the one
in production on the evaluation report. Each job reports its own progress; RETRAIN_ADVANCE_S (Celery beat)
moves a round to its next step once its job finished, under a lock on the proposal's row so two advances
never start the same step twice. Nothing is deployed: an owner approves the candidate, or not."""

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.approvals.services import Actor, swap_approval_request
from apps.common.errors import Conflict, DomainError, PermissionDenied
from apps.discovery.models import TaskCluster
from apps.evaluation.services import evaluation_create
from apps.jobs.models import Job, JobStatus
from apps.projects.models import ApiKeyScope
from apps.serving.drift import drift_figures, drift_reasons
from apps.serving.models import (
    Deployment,
    DeploymentStatus,
    EventKind,
    RetrainProposal,
    RetrainStatus,
    RetrainStep,
    ServingEvent,
)
from apps.serving.selectors import deployment_active_list
from apps.serving.services import _check_may
from apps.specialists.services import dataset_create, training_run_create

logger = logging.getLogger(__name__)
DRIFT_CHECK = "drift check"


# --- proposing ----------------------------------------------------------------------------------------------


def _quiet(deployment: Deployment, now: datetime) -> bool:
    """This deployment has a round awaiting approval, or a proposal dismissed in the last RETRAIN_QUIET_DAYS."""
    since = now - timedelta(days=settings.RETRAIN_QUIET_DAYS)
    proposals = RetrainProposal.objects.filter(deployment=deployment)
    return (
        proposals.filter(status=RetrainStatus.AWAITING_APPROVAL).exists()
        or proposals.filter(status=RetrainStatus.DISMISSED, finished_at__gte=since).exists()
    )


@transaction.atomic
def retrain_proposal_raise(*, deployment: Deployment, now: datetime | None = None) -> RetrainProposal | None:
    """Propose retraining the deployment's specialist when a drift threshold is passed: a proposal with the
    reasons and figures, and a retrain_proposed event. A proposal still waiting for a click gets the new
    figures; none is raised while a round runs or awaits approval, nor for RETRAIN_QUIET_DAYS after one was
    dismissed. Returns the proposal raised, or None."""
    now = now or timezone.now()
    run = deployment.evaluation.training_run
    if run is None or _quiet(deployment, now):
        return None
    figures = drift_figures(deployment=deployment, now=now)  # read before the lock: the counts take a while
    reasons = [{"code": r.code, "message": r.message} for r in drift_reasons(figures)]
    TaskCluster.objects.select_for_update().get(id=deployment.cluster_id)  # one proposal per task at a time
    proposals = RetrainProposal.objects.filter(cluster_id=deployment.cluster_id)
    if proposals.filter(status=RetrainStatus.RUNNING).exists() or not reasons:
        return None
    pending = proposals.filter(status=RetrainStatus.PROPOSED).first()
    if pending is not None:
        pending.reasons, pending.figures = reasons, figures.as_dict()
        pending.save(update_fields=["reasons", "figures", "updated_at"])
        return None
    proposal = RetrainProposal.objects.create(
        project_id=deployment.project_id,
        cluster_id=deployment.cluster_id,
        deployment=deployment,
        source_run=run,
        reasons=reasons,
        figures=figures.as_dict(),
        message="Proposed: start the round to retrain from the same recipe.",
    )
    ServingEvent.objects.create(
        project_id=deployment.project_id,
        cluster_id=deployment.cluster_id,
        deployment=deployment,
        kind=EventKind.RETRAIN_PROPOSED,
        message=("Retraining proposed. " + " ".join(r["message"] for r in reasons))[:1000],
        figures={"proposal": str(proposal.id), "reasons": [r["code"] for r in reasons], **figures.as_dict()},
        who=DRIFT_CHECK,
    )
    return proposal


def retrain_proposals_check() -> int:
    """Celery beat: every trained specialist in production checked for drift. Returns the proposals raised."""
    raised = 0
    for deployment in (
        deployment_active_list()
        .filter(evaluation__training_run__isnull=False)
        .select_related("evaluation__training_run__dataset", "cluster")
    ):
        try:
            raised += retrain_proposal_raise(deployment=deployment) is not None
        except Exception:
            logger.exception("drift check of deployment %s failed", deployment.id)
    return raised


# --- an owner's click ---------------------------------------------------------------------------------------


def _check_may_start(proposal: RetrainProposal, actor: Actor) -> None:
    """Owners and admins; a key needs the 'approve' scope (deciding what answers the calls) and 'discover'
    (the round requests approval of its candidate, which that scope allows)."""
    _check_may(proposal.project, actor, "retraining proposal")
    if actor.api_key is not None and ApiKeyScope.DISCOVER not in actor.api_key.scopes:
        raise PermissionDenied(
            "This API key lacks the 'discover' scope: the round builds a dataset, trains and requests approval. "
            "Use a key with both 'approve' and 'discover'."
        )


def _locked(proposal: RetrainProposal) -> RetrainProposal:
    return RetrainProposal.objects.select_for_update().select_related("source_run__dataset").get(id=proposal.id)


@transaction.atomic
def retrain_proposal_start(*, proposal: RetrainProposal, actor: Actor) -> RetrainProposal:
    """Start the round: a dataset of the task's calls now, with the recipe of the specialist in production
    (kind, base model, seed, validation and test fractions). Only a proposal waiting for a click starts
    (409 otherwise), and only while its specialist is still deployed."""
    _check_may_start(proposal, actor)
    proposal = _locked(proposal)
    if proposal.status != RetrainStatus.PROPOSED:
        raise Conflict(f"This retraining is {proposal.get_status_display().lower()}: it cannot start.", field="id")
    deployment = proposal.deployment
    if deployment is None or deployment.status == DeploymentStatus.STOPPED:
        raise Conflict("Its specialist is no longer deployed: dismiss this proposal.", field="id")
    source = proposal.source_run.dataset
    user = actor.user if actor.api_key is None else None
    dataset = dataset_create(
        cluster=proposal.cluster,
        base_model=source.base_model,
        kind=source.kind,
        val_fraction=source.val_fraction,
        test_fraction=source.test_fraction,
        seed=source.seed,
        created_by=user,
    )
    proposal.status, proposal.step, proposal.dataset = RetrainStatus.RUNNING, RetrainStep.DATASET, dataset
    proposal.who, proposal.started_by, proposal.started_by_key = actor.who, user, actor.api_key
    proposal.started_at, proposal.message = timezone.now(), "Building the dataset from the task's calls now."
    proposal.save()
    return proposal


@transaction.atomic
def retrain_proposal_dismiss(*, proposal: RetrainProposal, actor: Actor) -> RetrainProposal:
    """Not now: the proposal is dismissed, and the drift check stays quiet for RETRAIN_QUIET_DAYS."""
    _check_may(proposal.project, actor, "retraining proposal")
    proposal = _locked(proposal)
    if proposal.status not in (RetrainStatus.PROPOSED, RetrainStatus.FAILED):
        raise Conflict(f"This retraining is {proposal.get_status_display().lower()}: it cannot be dismissed.")
    proposal.status, proposal.who, proposal.finished_at = RetrainStatus.DISMISSED, actor.who, timezone.now()
    proposal.message = f"Dismissed by {actor.who}."
    proposal.save(update_fields=["status", "who", "finished_at", "message", "updated_at"])
    return proposal


# --- the round, step by step ----------------------------------------------------------------------------------


def _fail(proposal: RetrainProposal, message: str) -> None:
    proposal.status, proposal.message, proposal.finished_at = RetrainStatus.FAILED, message[:500], timezone.now()
    proposal.save(update_fields=["status", "message", "finished_at", "updated_at"])


def _job_ended_badly(proposal: RetrainProposal, job: Job | None, what: str) -> bool:
    """The step's job failed or was cancelled: the round fails, saying why."""
    if job is None or job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        return False
    _fail(proposal, f"The {what} {job.get_status_display().lower()}: {job.error or job.message}")
    return True


def _actor(proposal: RetrainProposal) -> Actor:
    return Actor(api_key=proposal.started_by_key) if proposal.started_by_key else Actor(user=proposal.started_by)


def _next(proposal: RetrainProposal) -> None:
    """Start the step after the one whose job succeeded."""
    source = proposal.source_run
    if proposal.step == RetrainStep.DATASET:
        assert proposal.dataset is not None
        proposal.training_run = training_run_create(
            dataset=proposal.dataset, params=source.params, created_by=proposal.started_by
        )
        proposal.step, proposal.message = RetrainStep.TRAINING, "Training from the same recipe."
    elif proposal.step == RetrainStep.TRAINING:
        target = proposal.deployment.evaluation.target if proposal.deployment is not None else None
        proposal.evaluation = evaluation_create(
            cluster=proposal.cluster, training_run=proposal.training_run, target=target, created_by=proposal.started_by
        )
        proposal.step, proposal.message = RetrainStep.EVALUATION, "Evaluating on the task's frozen test split."
    else:
        assert proposal.evaluation is not None
        reasons = " ".join(r["message"] for r in proposal.reasons)
        proposal.approval = swap_approval_request(
            evaluation=proposal.evaluation, actor=_actor(proposal), comment=f"Retrained. {reasons}".strip()
        )
        proposal.status, proposal.step, proposal.finished_at = (
            RetrainStatus.AWAITING_APPROVAL,
            RetrainStep.APPROVAL,
            timezone.now(),
        )
        proposal.message = "Evaluated: approve or reject the candidate on the evaluation report."


@transaction.atomic
def retrain_round_advance(*, proposal_id: UUID | str) -> RetrainProposal | None:
    """Move a running round on when the job it waits on finished: the next step's job is created, or the
    approval requested; a job that failed fails the round, and so does a step its service refuses (with the
    service's message). Returns the proposal, or None when it is not running."""
    proposal = (
        RetrainProposal.objects.select_for_update(of=("self",))
        .select_related("dataset", "training_run", "evaluation", "source_run", "cluster", "deployment__evaluation")
        .filter(id=proposal_id, status=RetrainStatus.RUNNING)
        .first()
    )
    if proposal is None:
        return None
    job = proposal.current_job
    what = {"dataset": "dataset build", "training": "training run"}.get(proposal.step, "evaluation")
    if _job_ended_badly(proposal, job, what) or job is None or job.status != JobStatus.SUCCEEDED:
        return proposal
    try:
        with transaction.atomic():
            _next(proposal)
    except DomainError as exc:
        _fail(proposal, f"The {what} finished, but the next step was refused: {exc.message}")
        return proposal
    proposal.save()
    return proposal


def retrain_rounds_advance() -> int:
    """Celery beat, every RETRAIN_ADVANCE_S: each running round moved on. Returns the rounds looked at."""
    ids = list(RetrainProposal.objects.filter(status=RetrainStatus.RUNNING).values_list("id", flat=True))
    for proposal_id in ids:
        retrain_round_advance(proposal_id=proposal_id)
    return len(ids)
