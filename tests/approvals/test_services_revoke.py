"""Revoking is a new record that points at the approval it revokes; the approval itself is kept."""

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import Decision, SwapApproval
from apps.approvals.selectors import SwapState, swap_state_get
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_revoke
from apps.common.errors import Conflict, DomainError, PermissionDenied
from apps.evaluation.models import Evaluation

pytestmark = pytest.mark.django_db


def approved(evaluation: Evaluation, owner: User) -> SwapApproval:
    return swap_approval_decide(evaluation=evaluation, actor=Actor(user=owner), decision="approve", comment="Go.")


def test_revoking_adds_a_record_pointing_at_the_approval(owner: User, admin_user: User, ready: Evaluation) -> None:
    approval = approved(ready, owner)
    revocation = swap_approval_revoke(evaluation=ready, actor=Actor(user=admin_user), comment="Drift on new calls.")
    assert (revocation.decision, revocation.revokes, revocation.who) == (Decision.REVOKE, approval, "admin")
    assert revocation.evidence["evaluation"] == str(ready.id)
    approval.refresh_from_db()
    assert approval.decision == Decision.APPROVE and approval.comment == "Go."
    assert SwapApproval.objects.count() == 2
    assert swap_state_get(cluster=ready.cluster).state == SwapState.REVOKED


def test_nothing_to_revoke_is_a_conflict(owner: User, ready: Evaluation) -> None:
    with pytest.raises(Conflict, match="not approved: there is nothing to revoke"):
        swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="?")
    approved(ready, owner)
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="once")
    with pytest.raises(Conflict):
        swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="twice")


def test_an_engineer_cannot_revoke(owner: User, engineer: User, ready: Evaluation) -> None:
    approved(ready, owner)
    with pytest.raises(PermissionDenied):
        swap_approval_revoke(evaluation=ready, actor=Actor(user=engineer), comment="oops")


def test_revoking_needs_a_comment(owner: User, ready: Evaluation) -> None:
    approved(ready, owner)
    with pytest.raises(DomainError, match="Say why you are revoking it"):
        swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="")
