"""Writes: swap decisions. Engineers request approval of an evaluated candidate; owners and admins approve
or reject it with a comment, and revoke an approval. Each is a new immutable record carrying a frozen
copy of the evidence; nothing is ever updated.

Decisions on one task are serialised by a lock on the task's row, so two owners cannot both approve
different candidates, and an approval is never revoked twice."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from apps.approvals import selectors
from apps.approvals.evidence import evaluation_evidence
from apps.approvals.models import Decision, SwapApproval
from apps.approvals.signals import approval_revoked
from apps.common.errors import Conflict, DomainError, NotFound, PermissionDenied
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.evaluation.models import Evaluation
from apps.jobs.models import JobStatus
from apps.projects.models import ApiKey, ApiKeyScope, Role
from apps.projects.selectors import membership_get

DEFAULT_ROLLOUT: dict[str, Any] = {"shadow": True, "canary_percent": 10, "escalate_on_invalid": True}
ROLLOUT_KEYS = frozenset(DEFAULT_ROLLOUT)
TEXT_LIMIT = 4000
READY = "ready"


@dataclass(frozen=True)
class Actor:
    """Who records a decision: a signed-in member of the project, or one of its API keys."""

    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def who(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name}"[:200]
        return self.user.get_username() if self.user is not None else ""


def _check_may(evaluation: Evaluation, actor: Actor, decision: str) -> None:
    """Requests need an engineer (or a key with the discover scope); approving, rejecting and revoking need
    an owner or admin (or a key with the approve scope, which only they can grant)."""
    deciding = decision != Decision.REQUEST
    if actor.api_key is not None:
        if actor.api_key.project_id != evaluation.project_id:
            raise NotFound("No such evaluation in this project", field="evaluation")
        scope = ApiKeyScope.APPROVE if deciding else ApiKeyScope.DISCOVER
        if scope not in actor.api_key.scopes:
            raise PermissionDenied(
                f"This API key lacks the '{scope}' scope; "
                + (
                    "an owner or admin of the project can create a key with it on the API keys page"
                    if deciding
                    else "create a key with it on the API keys page"
                )
            )
        return
    membership = membership_get(project=evaluation.project, user=actor.user) if actor.user is not None else None
    if membership is None:
        raise NotFound("No such evaluation in this project", field="evaluation")
    role = membership.get_role_display()
    if deciding and not membership.can("approve"):
        after = "can request approval" if membership.role == Role.ENGINEER else "can read the report"
        raise PermissionDenied(
            f"Only owners and admins of the project approve, reject or revoke a swap; your role ({role}) {after}."
        )
    if not deciding and not membership.can("manage_tasks"):
        raise PermissionDenied(
            f"Your role ({role}) cannot request approval: engineers, owners and admins of the project can."
        )


def _rollout(value: dict[str, Any] | None, *, fallback: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return dict(fallback)
    unknown = sorted(set(value) - ROLLOUT_KEYS)
    if unknown:
        raise DomainError(
            f"Unknown rollout option {', '.join(unknown)}: give shadow, canary_percent and escalate_on_invalid.",
            field="rollout",
            code="invalid",
        )
    rollout = {**fallback, **value}
    canary = rollout["canary_percent"]
    if isinstance(canary, bool) or not isinstance(canary, int) or not 0 <= canary <= 100:
        raise DomainError(
            "The canary is a whole percentage of calls, 0 to 100.", field="rollout.canary_percent", code="invalid"
        )
    for flag in ("shadow", "escalate_on_invalid"):
        if not isinstance(rollout[flag], bool):
            raise DomainError(f"{flag} is true or false.", field=f"rollout.{flag}", code="invalid")
    if not rollout["shadow"] and canary == 0:
        raise DomainError(
            "Nothing would change: run the candidate in shadow first, or give it a share of the calls.",
            field="rollout.canary_percent",
            code="invalid",
        )
    return rollout


def _text(value: str, field: str) -> str:
    text = value.strip()
    if len(text) > TEXT_LIMIT:
        raise DomainError(f"Keep it under {TEXT_LIMIT:,} characters.", field=field, code="invalid")
    return text


def _comment(value: str, decision: str) -> str:
    comment = _text(value, "comment")
    if not comment and decision != Decision.REQUEST:
        verbs = {
            Decision.APPROVE.value: "approving",
            Decision.REJECT.value: "rejecting",
            Decision.REVOKE.value: "revoking",
        }
        verb = verbs[decision]
        raise DomainError(f"Say why you are {verb} it: the comment is kept with the decision.", field="comment")
    return comment


def _lock_task(evaluation: Evaluation) -> tuple[TaskCluster, list[SwapApproval]]:
    """Lock the task's row for this transaction, and read its decisions (oldest first)."""
    cluster = TaskCluster.objects.select_for_update().get(id=evaluation.cluster_id)
    return cluster, selectors.swap_records(cluster=cluster)


def _check_evaluated(evaluation: Evaluation, cluster: TaskCluster) -> None:
    if evaluation.status != JobStatus.SUCCEEDED or not evaluation.verdict:
        raise Conflict(
            f"This evaluation is {evaluation.get_status_display().lower()}: a decision needs a finished evaluation.",
            field="evaluation",
        )
    if cluster.status != ClusterStatus.ACTIVE:
        raise Conflict(
            f"This task is {cluster.get_status_display().lower()}: decide on a candidate of an active task.",
            field="evaluation",
        )


def _record(*, evaluation: Evaluation, actor: Actor, decision: str, comment: str, **fields: Any) -> SwapApproval:
    return SwapApproval.objects.create(
        project_id=evaluation.project_id,
        cluster_id=evaluation.cluster_id,
        evaluation=evaluation,
        decision=decision,
        comment=comment,
        verdict=evaluation.verdict,
        evidence=evaluation_evidence(evaluation),
        who=actor.who,
        user=actor.user if actor.api_key is None else None,
        api_key=actor.api_key,
        **fields,
    )


def _name(record: SwapApproval) -> str:
    """The candidate of a decision, as its evidence names it."""
    return str((record.evidence.get("candidate") or {}).get("name") or "Another candidate")


@transaction.atomic
def swap_approval_request(
    *, evaluation: Evaluation, actor: Actor, comment: str = "", rollout: dict[str, Any] | None = None
) -> SwapApproval:
    """Ask the owners to approve an evaluated candidate, with the rollout proposed."""
    _check_may(evaluation, actor, Decision.REQUEST)
    cluster, records = _lock_task(evaluation)
    _check_evaluated(evaluation, cluster)
    approved = selectors.swap_approval_in_force(records=records)
    if approved is not None and approved.evaluation_id == evaluation.id:
        raise Conflict("This candidate is approved already.", field="evaluation")
    if any(r.evaluation_id == evaluation.id for r in selectors.swap_requests_pending(records=records)):
        raise Conflict("Approval of this candidate is requested already.", field="evaluation")
    return _record(
        evaluation=evaluation,
        actor=actor,
        decision=Decision.REQUEST,
        comment=_comment(comment, Decision.REQUEST),
        rollout=_rollout(rollout, fallback=DEFAULT_ROLLOUT),
    )


@transaction.atomic
def swap_approval_decide(
    *,
    evaluation: Evaluation,
    actor: Actor,
    decision: str,
    comment: str,
    reason_not_ready: str = "",
    rollout: dict[str, Any] | None = None,
) -> SwapApproval:
    """Approve or reject an evaluated candidate, with a comment. Approving one whose verdict is not ready
    needs a written reason; the rollout defaults to the one requested, else shadow first, a 10% canary
    and escalation to the LLM on failed validation. One candidate per task is approved at a time."""
    if decision not in (Decision.APPROVE, Decision.REJECT):
        raise DomainError("The decision is approve or reject.", field="decision", code="invalid")
    _check_may(evaluation, actor, decision)
    cluster, records = _lock_task(evaluation)
    _check_evaluated(evaluation, cluster)
    comment = _comment(comment, decision)
    approved = selectors.swap_approval_in_force(records=records)
    if decision == Decision.REJECT:
        if approved is not None and approved.evaluation_id == evaluation.id:
            raise Conflict("This candidate is approved: revoke the approval instead.", field="decision")
        return _record(evaluation=evaluation, actor=actor, decision=decision, comment=comment)
    if approved is not None:
        if approved.evaluation_id == evaluation.id:
            raise Conflict("This candidate is approved already.", field="evaluation")
        raise Conflict(
            f"{_name(approved)} is approved for this task: revoke that approval before approving another candidate.",
            field="evaluation",
        )
    reason = _text(reason_not_ready, "reason_not_ready")
    if evaluation.verdict != READY and not reason:
        verdict = evaluation.get_verdict_display().split(":")[0].lower()
        raise DomainError(
            f"This candidate is {verdict} for the {evaluation.target * 100:g}% target: write down why it should "
            "replace the LLM anyway.",
            field="reason_not_ready",
            code="reason_required",
        )
    requested = [r for r in selectors.swap_requests_pending(records=records) if r.evaluation_id == evaluation.id]
    fallback = requested[-1].rollout if requested else DEFAULT_ROLLOUT
    return _record(
        evaluation=evaluation,
        actor=actor,
        decision=decision,
        comment=comment,
        reason_not_ready=reason if evaluation.verdict != READY else "",
        rollout=_rollout(rollout, fallback={**DEFAULT_ROLLOUT, **fallback}),
    )


@transaction.atomic
def swap_approval_revoke(*, evaluation: Evaluation, actor: Actor, comment: str) -> SwapApproval:
    """Revoke the approval of this candidate: a new record pointing at it. The task goes back to the LLM: a
    deployment of the approval stops in the same transaction (apps.serving listens to approval_revoked)."""
    _check_may(evaluation, actor, Decision.REVOKE)
    _, records = _lock_task(evaluation)
    approved = selectors.swap_approval_in_force(records=records)
    if approved is None or approved.evaluation_id != evaluation.id:
        raise Conflict("This candidate is not approved: there is nothing to revoke.", field="evaluation")
    record = _record(
        evaluation=evaluation,
        actor=actor,
        decision=Decision.REVOKE,
        comment=_comment(comment, Decision.REVOKE),
        revokes=approved,
    )
    approval_revoked.send(sender=SwapApproval, approval=approved, record=record)  # serving stops its deployment
    return record


def swap_approval_record(
    *,
    evaluation: Evaluation,
    actor: Actor,
    decision: str,
    comment: str = "",
    reason_not_ready: str = "",
    rollout: dict[str, Any] | None = None,
) -> SwapApproval:
    """Any decision, by its name: request, approve, reject or revoke (the API and the page's one form)."""
    if decision == Decision.REQUEST:
        return swap_approval_request(evaluation=evaluation, actor=actor, comment=comment, rollout=rollout)
    if decision == Decision.REVOKE:
        return swap_approval_revoke(evaluation=evaluation, actor=actor, comment=comment)
    return swap_approval_decide(
        evaluation=evaluation,
        actor=actor,
        decision=decision,
        comment=comment,
        reason_not_ready=reason_not_ready,
        rollout=rollout,
    )
