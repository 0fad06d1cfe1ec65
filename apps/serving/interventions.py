"""What an owner does when a specialist in production goes wrong: re-enable one the circuit breaker tripped,
or roll a task back to the specialist that served it before, or to the LLM. A rollback is approval records
like any other (a revocation, and for a previous specialist a new approval of it), and an event."""

from typing import Any

from django.db import transaction

from apps.approvals.models import Decision
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_revoke
from apps.common.errors import Conflict, DomainError
from apps.evaluation.models import Verdict
from apps.serving.models import Deployment, DeploymentStatus, EventKind, ServingEvent
from apps.serving.services import _check_may, deployment_create, deployments_changed

PREVIOUS, LLM = "previous", "llm"


def _event(deployment: Deployment, kind: str, message: str, actor: Actor, **figures: Any) -> ServingEvent:
    return ServingEvent.objects.create(
        project_id=deployment.project_id,
        cluster_id=deployment.cluster_id,
        deployment=deployment,
        kind=kind,
        message=message[:1000],
        figures=figures,
        who=actor.who,
    )


@transaction.atomic
def deployment_reenable(*, deployment: Deployment, actor: Actor) -> Deployment:
    """A deployment the circuit breaker tripped takes its share of the calls again; the breaker then counts
    only calls from now on."""
    _check_may(deployment.project, actor, "deployment")
    deployment = Deployment.objects.select_for_update().get(id=deployment.id)
    if deployment.status == DeploymentStatus.STOPPED:
        raise Conflict("This deployment is stopped: deploy its approval again instead.", field="id")
    if deployment.tripped_at is None:
        raise Conflict("This deployment's circuit breaker has not tripped: there is nothing to re-enable.", field="id")
    tripped_at, reason = deployment.tripped_at, deployment.tripped_reason
    deployment.tripped_at, deployment.tripped_reason = None, ""
    deployment.save(update_fields=["tripped_at", "tripped_reason", "updated_at"])
    _event(
        deployment,
        EventKind.REENABLED,
        f"Re-enabled by {actor.who}. It had tripped on {tripped_at:%Y-%m-%d %H:%M} UTC: {reason}.",
        actor,
        tripped_at=tripped_at.isoformat(),
        tripped_reason=reason,
    )
    deployments_changed(project_id=deployment.project_id)
    return deployment


def _previous(current: Deployment) -> Deployment | None:
    """The specialist that served the task before this one: its latest earlier deployment of another
    candidate."""
    return (
        Deployment.objects.filter(cluster_id=current.cluster_id, created_at__lt=current.created_at)
        .exclude(evaluation_id=current.evaluation_id)
        .select_related("evaluation")
        .order_by("-created_at")
        .first()
    )


@transaction.atomic
def deployment_rollback(
    *, deployment: Deployment, actor: Actor, to: str = PREVIOUS, comment: str = ""
) -> tuple[Deployment | None, ServingEvent]:
    """Take the deployment's candidate off its task: its approval is revoked (which stops it) and, to
    `previous`, the specialist that served before is approved again and deployed as it ran (mode, canary
    share); to `llm`, the task is back on the LLM. Returns the new deployment (None for the LLM) and the
    event."""
    if to not in (PREVIOUS, LLM):
        raise DomainError("Roll back to `previous` or to `llm`.", field="to", status=422, code="invalid")
    _check_may(deployment.project, actor, "deployment")
    current = Deployment.objects.select_for_update().select_related("evaluation").get(id=deployment.id)
    if current.status == DeploymentStatus.STOPPED:
        raise Conflict("This deployment is stopped already: the task is not served by it.", field="id")
    previous = _previous(current) if to == PREVIOUS else None
    if to == PREVIOUS and previous is None:
        raise Conflict("No other specialist served this task before this one: roll back to the LLM.", field="to")
    what = f"{previous.evaluation.candidate_name}, which served before" if previous else "the LLM"
    note = comment.strip() or f"Rollback from {current.evaluation.candidate_name} to {what}."
    revocation = swap_approval_revoke(evaluation=current.evaluation, actor=actor, comment=note)
    replacement = None
    figures: dict[str, Any] = {"from": str(current.id), "revocation": str(revocation.id), "to": LLM}
    if previous is not None:
        ready = previous.evaluation.verdict == Verdict.READY
        approval = swap_approval_decide(
            evaluation=previous.evaluation,
            actor=actor,
            decision=Decision.APPROVE,
            comment=note,
            reason_not_ready="" if ready else f"Rolled back to the specialist that served before: {note}",
            rollout={"shadow": previous.mode == "shadow", "canary_percent": previous.canary_percent},
        )
        replacement = deployment_create(
            approval=approval, actor=actor, mode=previous.mode, canary_percent=previous.canary_percent
        )
        figures |= {"to": str(replacement.id), "approval": str(approval.id)}
    event = _event(current, EventKind.ROLLBACK, f"Rolled back by {actor.who} to {what}. {note}", actor, **figures)
    return replacement, event
