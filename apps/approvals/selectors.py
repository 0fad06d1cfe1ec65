"""Reads: the audit of a project's swap decisions, and each task's swap state derived from them."""

import base64
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Q, QuerySet

from apps.approvals.models import Decision, SwapApproval
from apps.common.errors import DomainError, NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.jobs.models import JobStatus
from apps.projects.models import Project


class SwapState:
    """Where a task stands on its way off the LLM, in the order it usually goes."""

    LLM_ONLY = "llm_only"
    EVALUATED = "evaluated"
    REQUESTED = "requested"
    APPROVED = "approved"
    REVOKED = "revoked"


STATE_LABELS = {
    SwapState.LLM_ONLY: "LLM only",
    SwapState.EVALUATED: "Candidate evaluated",
    SwapState.REQUESTED: "Approval requested",
    SwapState.APPROVED: "Approved",
    SwapState.REVOKED: "Revoked",
}


@dataclass(frozen=True)
class TaskSwapState:
    """A task's state and the record behind it: the approval in force (approved), the latest pending
    request (requested), or the latest revocation (revoked); none for the other states."""

    state: str
    record: SwapApproval | None = None

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


# --- the audit ----------------------------------------------------------------------------------------


def swap_approval_list(
    *, project: Project, cluster: TaskCluster | None = None, decision: str | None = None
) -> QuerySet[SwapApproval]:
    """The project's decisions, newest first, with what the audit shows of each."""
    records = SwapApproval.objects.filter(project=project).select_related("cluster", "revokes")
    if cluster is not None:
        records = records.filter(cluster=cluster)
    if decision:
        records = records.filter(decision=decision)
    return records.order_by("-created_at", "-id")


def swap_approval_get(*, project: Project, approval_id: object, field: str | None = None) -> SwapApproval:
    uid = as_uuid(approval_id)
    record = SwapApproval.objects.filter(project=project, id=uid).select_related("evaluation").first() if uid else None
    if record is None:
        raise NotFound("No such swap approval in this project", field=field)
    return record


@dataclass
class Page:
    items: list[SwapApproval]
    next_cursor: str | None


def _cursor_id(cursor: str) -> UUID:
    try:
        uid = as_uuid(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        uid = None
    if uid is None:
        raise DomainError("The cursor is not one this API gave out", field="cursor")
    return uid


def swap_approval_page(
    *,
    project: Project,
    cluster: TaskCluster | None = None,
    evaluation: Evaluation | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Newest first, keyset-paginated on (created_at, id)."""
    records = swap_approval_list(project=project, cluster=cluster)
    if evaluation is not None:
        records = records.filter(evaluation=evaluation)
    if cursor:
        last_id = _cursor_id(cursor)
        last = records.filter(id=last_id).values_list("created_at", flat=True).first()
        if last is None:
            raise DomainError("The cursor is not one this API gave out", field="cursor")
        records = records.filter(Q(created_at__lt=last) | Q(created_at=last, id__lt=last_id))
    items = list(records[: limit + 1])
    next_cursor = base64.urlsafe_b64encode(str(items[limit - 1].id).encode()).decode() if len(items) > limit else None
    return Page(items=items[:limit], next_cursor=next_cursor)


# --- the state of a task ------------------------------------------------------------------------------


def _in_force(records: list[SwapApproval]) -> SwapApproval | None:
    """The latest approval no revocation points at (records oldest first)."""
    revoked = {r.revokes_id for r in records if r.decision == Decision.REVOKE}
    approvals = [r for r in records if r.decision == Decision.APPROVE and r.id not in revoked]
    return approvals[-1] if approvals else None


def _pending(records: list[SwapApproval]) -> list[SwapApproval]:
    """Requests no later approval or rejection of the same evaluation answered (records oldest first)."""
    pending: dict[UUID, SwapApproval] = {}
    for record in records:
        if record.decision == Decision.REQUEST:
            pending[record.evaluation_id] = record
        elif record.decision in (Decision.APPROVE, Decision.REJECT):
            pending.pop(record.evaluation_id, None)
    return list(pending.values())


def derive_state(records: list[SwapApproval], *, evaluated: bool) -> TaskSwapState:
    """A task's state from its decisions (oldest first) and whether any candidate finished an evaluation:
    an approval in force wins; then a pending request; then a revocation that nothing came after; then
    a finished evaluation; else the task is on the LLM only."""
    approval = _in_force(records)
    if approval is not None:
        return TaskSwapState(SwapState.APPROVED, approval)
    pending = _pending(records)
    if pending:
        return TaskSwapState(SwapState.REQUESTED, pending[-1])
    if records and records[-1].decision == Decision.REVOKE:
        return TaskSwapState(SwapState.REVOKED, records[-1])
    return TaskSwapState(SwapState.EVALUATED if evaluated or records else SwapState.LLM_ONLY)


def _records_by_cluster(cluster_ids: Iterable[UUID]) -> dict[UUID, list[SwapApproval]]:
    found: dict[UUID, list[SwapApproval]] = defaultdict(list)
    for record in SwapApproval.objects.filter(cluster_id__in=list(cluster_ids)).order_by("created_at", "id"):
        found[record.cluster_id].append(record)
    return found


def swap_state_of(*, clusters: Iterable[TaskCluster]) -> dict[UUID, TaskSwapState]:
    """Each task's state, in two queries whatever the number of tasks."""
    ids = [cluster.id for cluster in clusters]
    records = _records_by_cluster(ids)
    evaluated = set(
        Evaluation.objects.filter(cluster_id__in=ids, status=JobStatus.SUCCEEDED).values_list("cluster_id", flat=True)
    )
    return {uid: derive_state(records.get(uid, []), evaluated=uid in evaluated) for uid in ids}


def swap_state_get(*, cluster: TaskCluster) -> TaskSwapState:
    return swap_state_of(clusters=[cluster])[cluster.id]


def swap_records(*, cluster: TaskCluster) -> list[SwapApproval]:
    """The task's decisions, oldest first (what its state is derived from)."""
    return _records_by_cluster([cluster.id]).get(cluster.id, [])


def swap_approval_in_force(*, records: list[SwapApproval]) -> SwapApproval | None:
    return _in_force(records)


def swap_requests_pending(*, records: list[SwapApproval]) -> list[SwapApproval]:
    return _pending(records)
