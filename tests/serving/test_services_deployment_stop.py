"""Stopping a deployment, and what its health checks record."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor
from apps.common.errors import PermissionDenied
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_health_record, deployment_stop

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(approval: SwapApproval, owner: User) -> Deployment:
    return deployment_create(approval=approval, actor=Actor(user=owner))


def test_stopping_keeps_the_row_with_when_it_stopped(deployment: Deployment, owner: User) -> None:
    stopped = deployment_stop(deployment=deployment, actor=Actor(user=owner))
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    again = deployment_stop(deployment=deployment, actor=Actor(user=owner))
    assert (again.status, again.stopped_at) == ("stopped", stopped.stopped_at)
    assert Deployment.objects.count() == 1


def test_a_viewer_cannot_stop_it(deployment: Deployment, viewer: User) -> None:
    with pytest.raises(PermissionDenied):
        deployment_stop(deployment=deployment, actor=Actor(user=viewer))


def test_a_healthy_backend_serves_and_a_down_one_routes_to_the_llm(deployment: Deployment) -> None:
    assert (deployment.health_message, deployment.last_checked_at) == ("Not checked yet.", None)
    serving = deployment_health_record(deployment=deployment, healthy=True)
    assert (serving.status, serving.routes_to_specialist, serving.health_message) == ("serving", True, "Healthy.")
    assert serving.last_checked_at is not None
    down = deployment_health_record(deployment=deployment, healthy=False, message="connection refused on :8001")
    assert (down.status, down.healthy, down.routes_to_specialist) == ("serving", False, False)
    assert down.health_message == "connection refused on :8001"


def test_health_checks_leave_a_stopped_deployment_alone(deployment: Deployment, owner: User) -> None:
    deployment_stop(deployment=deployment, actor=Actor(user=owner))
    after = deployment_health_record(deployment=deployment, healthy=True)
    assert (after.status, after.healthy, after.last_checked_at) == ("stopped", False, None)


def test_revoking_the_approval_stops_its_deployment_and_tells_the_gateway(
    deployment: Deployment, owner: User, approval: SwapApproval, django_capture_on_commit_callbacks: Any
) -> None:
    from apps.approvals.services import swap_approval_revoke
    from apps.serving import selectors

    assert str(deployment.cluster_id) in {str(k) for k in selectors.deployment_routes(project_id=approval.project_id)}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        swap_approval_revoke(evaluation=approval.evaluation, actor=Actor(user=owner), comment="Drifted")
    deployment.refresh_from_db()
    assert deployment.status == "stopped" and deployment.stopped_at is not None
    assert deployment.health_message == "Stopped: its approval was revoked."
    assert callbacks  # the routes message, published after commit
    assert not selectors.deployment_routes(project_id=approval.project_id)
