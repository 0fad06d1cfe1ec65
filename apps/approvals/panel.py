"""The approval panel the task's evaluation report embeds (and the decide view renders alone): the
task's swap state, the approval in force, pending requests, the form for the person's role, and the
history of decisions on the task."""

from typing import Any

from apps.approvals import selectors
from apps.approvals.forms import DecisionForm
from apps.approvals.models import Decision, SwapApproval
from apps.approvals.services import DEFAULT_ROLLOUT
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.evaluation.selectors import evaluation_candidate
from apps.jobs.models import JobStatus
from apps.projects.models import Membership


def _initial(evaluation: Evaluation | None, pending: list[SwapApproval]) -> dict[str, Any]:
    """The form's rollout: the one requested for this candidate, else the defaults."""
    asked = [r for r in pending if evaluation is not None and r.evaluation_id == evaluation.id]
    rollout = {**DEFAULT_ROLLOUT, **(asked[-1].rollout if asked else {})}
    return {"evaluation": evaluation.id if evaluation else None, **rollout}


def panel_context(
    *,
    membership: Membership,
    cluster: TaskCluster,
    evaluation: Evaluation | None,
    evaluated: bool,
    form: DecisionForm | None = None,
    notice: str = "",
) -> dict[str, Any]:
    """`evaluation`: the candidate the report shows (decisions are on it); `evaluated`: whether any
    candidate of the task finished an evaluation."""
    records = selectors.swap_records(cluster=cluster)
    state = selectors.derive_state(records, evaluated=evaluated)
    in_force = selectors.swap_approval_in_force(records=records)
    pending = selectors.swap_requests_pending(records=records)
    finished = evaluation is not None and evaluation.status == JobStatus.SUCCEEDED and bool(evaluation.verdict)
    form = form or DecisionForm(initial=_initial(evaluation, pending))
    # What the service asks for, shown as required; the browser checks nothing (Reject needs no reason).
    form.use_required_attribute = False
    form.fields["comment"].required = membership.can("approve")
    form.fields["reason_not_ready"].required = True
    on_this = evaluation is not None and in_force is not None and in_force.evaluation_id == evaluation.id
    return {
        "swap_cluster": cluster,
        "swap_state": state,
        "swap_in_force": in_force,
        "swap_pending": pending,
        "swap_history": list(reversed(records)),
        "swap_evaluation": evaluation,
        "swap_candidate": evaluation_candidate(evaluation) if evaluation is not None else None,
        "swap_finished": finished,
        "swap_on_this": on_this,
        "swap_requested_this": any(evaluation is not None and r.evaluation_id == evaluation.id for r in pending),
        "swap_not_ready": finished and evaluation is not None and evaluation.verdict != "ready",
        "swap_can_decide": membership.can("approve"),
        "swap_can_request": membership.can("manage_tasks"),
        "swap_form": form,
        "swap_notice": notice,
        "decisions": Decision,
    }
