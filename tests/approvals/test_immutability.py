"""A swap approval is never changed: save(), the queryset and the database itself refuse updates, and
the database keeps the rules a record must follow."""

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from apps.approvals.models import ImmutableRecord, SwapApproval
from apps.approvals.services import Actor, swap_approval_decide
from apps.evaluation.models import Evaluation

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval(owner: User, ready: Evaluation) -> SwapApproval:
    return swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")


def test_saving_a_stored_record_is_refused(approval: SwapApproval) -> None:
    approval.comment = "Edited afterwards"
    with pytest.raises(ImmutableRecord, match="never changed"):
        approval.save()
    approval.refresh_from_db()
    assert approval.comment == "Go."


def test_updating_through_the_queryset_is_refused(approval: SwapApproval) -> None:
    with pytest.raises(ImmutableRecord):
        SwapApproval.objects.filter(id=approval.id).update(comment="Edited")
    with pytest.raises(ImmutableRecord):
        SwapApproval.objects.bulk_update([approval], ["comment"])


def test_the_database_refuses_an_update(approval: SwapApproval) -> None:
    with pytest.raises(IntegrityError, match="never changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE approvals_swapapproval SET comment = 'Edited' WHERE id = %s", [approval.id])
    approval.refresh_from_db()
    assert approval.comment == "Go."


def test_deleting_a_record_is_refused(approval: SwapApproval) -> None:
    with pytest.raises(ImmutableRecord):
        approval.delete()
    assert SwapApproval.objects.filter(id=approval.id).exists()


def test_the_evaluation_decided_on_cannot_be_deleted(approval: SwapApproval, ready: Evaluation) -> None:
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        ready.delete()


def test_the_database_refuses_an_unexplained_not_ready_approval(owner: User, not_ready: Evaluation) -> None:
    with pytest.raises(IntegrityError, match="swap_approval_not_ready_needs_reason"), transaction.atomic():
        SwapApproval.objects.create(
            project=not_ready.project,
            cluster=not_ready.cluster,
            evaluation=not_ready,
            decision="approve",
            verdict="not_ready",
            who="owner",
            user=owner,
        )


def test_the_database_refuses_a_revocation_pointing_at_nothing(owner: User, ready: Evaluation) -> None:
    with pytest.raises(IntegrityError, match="swap_approval_revoke_points_at_approval"), transaction.atomic():
        SwapApproval.objects.create(
            project=ready.project, cluster=ready.cluster, evaluation=ready, decision="revoke", verdict="ready", who="x"
        )
