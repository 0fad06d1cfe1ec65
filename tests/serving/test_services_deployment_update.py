"""Changing a deployment's mode or canary share; a stopped one, or one whose approval was revoked, stays."""

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_revoke
from apps.common.errors import Conflict, DomainError, PermissionDenied
from apps.evaluation.models import Evaluation
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_stop, deployment_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(approval: SwapApproval, owner: User) -> Deployment:
    return deployment_create(approval=approval, actor=Actor(user=owner))


def test_changes_the_canary_then_goes_live(deployment: Deployment, owner: User) -> None:
    deployment_update(deployment=deployment, actor=Actor(user=owner), canary_percent=50)
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.canary_percent) == ("shadow", 50)
    deployment_update(deployment=deployment, actor=Actor(user=owner), mode="live")
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.canary_percent) == ("live", 50)


def test_bad_values_name_their_field(deployment: Deployment, owner: User) -> None:
    for kwargs, field in (
        ({"canary_percent": -1}, "canary_percent"),
        ({"canary_percent": 100.5}, "canary_percent"),
        ({"mode": "loud"}, "mode"),
        ({}, "mode"),
    ):
        with pytest.raises(DomainError) as info:
            deployment_update(deployment=deployment, actor=Actor(user=owner), **kwargs)
        assert (info.value.field, info.value.status) == (field, 422), kwargs
    deployment_update(deployment=deployment, actor=Actor(user=owner), canary_percent=0)
    with pytest.raises(DomainError, match="answers no call"):
        deployment_update(deployment=deployment, actor=Actor(user=owner), mode="live")
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.canary_percent) == ("shadow", 0)


def test_a_stopped_deployment_is_not_changed(deployment: Deployment, owner: User) -> None:
    deployment_stop(deployment=deployment, actor=Actor(user=owner))
    with pytest.raises(Conflict, match="stopped"):
        deployment_update(deployment=deployment, actor=Actor(user=owner), canary_percent=50)


def test_a_deployment_whose_approval_was_revoked_is_stopped_and_not_changed(
    deployment: Deployment, ready: Evaluation, owner: User
) -> None:
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift.")
    with pytest.raises(Conflict, match="stopped"):
        deployment_update(deployment=deployment, actor=Actor(user=owner), mode="live")
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.status) == ("shadow", "stopped")


def test_an_engineer_cannot_change_it(deployment: Deployment, engineer: User) -> None:
    with pytest.raises(PermissionDenied):
        deployment_update(deployment=deployment, actor=Actor(user=engineer), canary_percent=90)
