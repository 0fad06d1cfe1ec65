"""Owners and admins approve or reject an evaluated candidate with a comment; the record freezes the
evidence; not-ready needs a written reason; one candidate per task is approved at a time."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import Decision, SwapApproval
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_request, swap_approval_revoke
from apps.common.errors import Conflict, DomainError, NotFound, PermissionDenied
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.evaluation.models import Evaluation
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.approvals.factories import endpoint, evaluated

pytestmark = pytest.mark.django_db


def approve(evaluation: Evaluation, user: User, **fields: Any) -> SwapApproval:
    fields.setdefault("comment", "Checked the disagreements: harmless.")
    return swap_approval_decide(evaluation=evaluation, actor=Actor(user=user), decision="approve", **fields)


def test_an_owner_approves_a_ready_candidate_with_the_evidence_frozen(owner: User, ready: Evaluation) -> None:
    record = approve(ready, owner)
    assert (record.decision, record.who, record.user, record.api_key) == (Decision.APPROVE, "owner", owner, None)
    assert record.project_id == ready.project_id and record.cluster_id == ready.cluster_id
    assert record.comment == "Checked the disagreements: harmless." and record.reason_not_ready == ""
    assert record.rollout == {"shadow": True, "canary_percent": 10, "escalate_on_invalid": True}
    evidence = record.evidence
    assert evidence["evaluation"] == str(ready.id) and evidence["verdict"] == "ready" == record.verdict
    assert evidence["test_hash"] == ready.test_hash and len(evidence["test_hash"]) == 64
    assert evidence["agreement"] == {"value": 0.95, "ci_low": ready.agreement_low, "ci_high": ready.agreement_high,
                                     "agreed": 38}  # fmt: skip
    assert evidence["metrics"]["accuracy"] == 0.95 and evidence["test_calls"] == 40
    assert evidence["candidate"]["endpoint"] == str(ready.endpoint_id)
    assert evidence["candidate"]["model"] == "qwen2.5-0.5b-instruct" and evidence["candidate"]["name"] == "qwen-small"
    assert evidence["cost"] == {"candidate_per_1k_calls": "0.100000", "llm_per_1k_calls": "3.500000"}


def test_the_evidence_stays_as_it_was_when_the_evaluation_changes(owner: User, ready: Evaluation) -> None:
    record = approve(ready, owner)
    Evaluation.objects.filter(id=ready.id).update(agreement=0.1, verdict="not_ready", test_hash="x" * 64)
    record.refresh_from_db()
    assert record.evidence["agreement"]["value"] == 0.95 and record.evidence["test_hash"] == ready.test_hash


def test_an_admin_approves_too(admin_user: User, ready: Evaluation) -> None:
    assert approve(ready, admin_user).decision == Decision.APPROVE


@pytest.mark.parametrize(
    ("role", "says"),
    [("engineer", "your role (Engineer) can request approval"), ("viewer", "your role (Viewer) can read the report")],
)
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_engineers_and_viewers_cannot_approve_or_reject(
    request: pytest.FixtureRequest, ready: Evaluation, role: str, says: str, decision: str
) -> None:
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied) as info:
        swap_approval_decide(evaluation=ready, actor=Actor(user=user), decision=decision, comment="ok")
    assert info.value.status == 403 and "Only owners and admins of the project approve" in info.value.message
    assert says in info.value.message
    assert not SwapApproval.objects.exists()


def test_someone_outside_the_project_finds_no_evaluation(outsider: User, ready: Evaluation) -> None:
    with pytest.raises(NotFound):
        approve(ready, outsider)


def test_a_key_needs_the_approve_scope_and_its_own_project(
    owner: User, ready: Evaluation, project: Project, other_project: Project
) -> None:
    plain, _ = api_key_create(project=project, name="ci")
    with pytest.raises(PermissionDenied, match="lacks the 'approve' scope"):
        swap_approval_decide(evaluation=ready, actor=Actor(api_key=plain), decision="approve", comment="ok")
    elsewhere, _ = api_key_create(project=other_project, name="ci", scopes=["approve"], operator=True)
    with pytest.raises(NotFound):
        swap_approval_decide(evaluation=ready, actor=Actor(api_key=elsewhere), decision="approve", comment="ok")
    key, _ = api_key_create(project=project, name="release-bot", scopes=["approve"], created_by=owner)
    record = swap_approval_decide(evaluation=ready, actor=Actor(api_key=key), decision="approve", comment="ok")
    assert (record.who, record.api_key, record.user) == ("API key release-bot", key, None)


def test_approving_a_candidate_that_is_not_ready_needs_a_written_reason(owner: User, not_ready: Evaluation) -> None:
    with pytest.raises(DomainError) as info:
        approve(not_ready, owner)
    assert (info.value.status, info.value.code, info.value.field) == (400, "reason_required", "reason_not_ready")
    assert "not ready for the 80% target" in info.value.message
    with pytest.raises(DomainError):
        approve(not_ready, owner, reason_not_ready="   ")
    assert not SwapApproval.objects.exists()
    record = approve(not_ready, owner, reason_not_ready="A shadow run first; the misses are on sarcasm only.")
    assert record.reason_not_ready == "A shadow run first; the misses are on sarcasm only."
    assert record.verdict == "not_ready"


def test_an_inconclusive_candidate_needs_a_reason_too(owner: User, task: TaskCluster, project: Project) -> None:
    unsure = evaluated(task, endpoint(project, name="phi"), wrong=4, target=0.9)
    assert unsure.verdict == "inconclusive"
    with pytest.raises(DomainError, match="inconclusive for the 90% target"):
        approve(unsure, owner)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_needs_a_comment(owner: User, ready: Evaluation, decision: str) -> None:
    with pytest.raises(DomainError) as info:
        swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision=decision, comment=" ")
    assert info.value.field == "comment" and "Say why" in info.value.message


def test_rejecting_records_the_reason(owner: User, not_ready: Evaluation) -> None:
    record = swap_approval_decide(
        evaluation=not_ready, actor=Actor(user=owner), decision="reject", comment="Too many wrong labels."
    )
    assert (record.decision, record.comment, record.rollout) == (Decision.REJECT, "Too many wrong labels.", {})


def test_one_candidate_per_task_is_approved_at_a_time(owner: User, ready: Evaluation, not_ready: Evaluation) -> None:
    approve(ready, owner)
    with pytest.raises(Conflict, match="approved already"):
        approve(ready, owner)
    with pytest.raises(Conflict, match="qwen-small is approved for this task: revoke that approval"):
        approve(not_ready, owner, reason_not_ready="cheaper")
    with pytest.raises(Conflict, match="revoke the approval instead"):
        swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="reject", comment="no")
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Trying the other one.")
    assert approve(not_ready, owner, reason_not_ready="cheaper").decision == Decision.APPROVE


def test_an_evaluation_that_has_not_finished_cannot_be_decided(owner: User, task: TaskCluster, qwen: Any) -> None:
    running = evaluated(task, qwen, status=JobStatus.RUNNING)
    with pytest.raises(Conflict, match="This evaluation is running"):
        approve(running, owner)


def test_a_task_that_is_no_longer_active_cannot_be_decided(owner: User, ready: Evaluation) -> None:
    TaskCluster.objects.filter(id=ready.cluster_id).update(status=ClusterStatus.MERGED)
    ready.refresh_from_db()
    with pytest.raises(Conflict, match="This task is merged into another"):
        approve(ready, owner)


def test_the_rollout_is_the_one_requested_unless_the_owner_changes_it(
    engineer: User, owner: User, ready: Evaluation
) -> None:
    asked = {"shadow": False, "canary_percent": 25, "escalate_on_invalid": True}
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer), comment="Looks good", rollout=asked)
    assert approve(ready, owner).rollout == asked
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="again")
    changed = approve(ready, owner, rollout={"shadow": True, "canary_percent": 5, "escalate_on_invalid": False})
    assert changed.rollout == {"shadow": True, "canary_percent": 5, "escalate_on_invalid": False}


@pytest.mark.parametrize(
    ("rollout", "field"),
    [
        ({"canary_percent": 101}, "rollout.canary_percent"),
        ({"canary_percent": -1}, "rollout.canary_percent"),
        ({"canary_percent": "10"}, "rollout.canary_percent"),
        ({"shadow": "yes"}, "rollout.shadow"),
        ({"shadow": False, "canary_percent": 0}, "rollout.canary_percent"),
        ({"dark_launch": True}, "rollout"),
    ],
)
def test_a_bad_rollout_is_refused(owner: User, ready: Evaluation, rollout: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as info:
        approve(ready, owner, rollout=rollout)
    assert info.value.field == field and info.value.status == 400
