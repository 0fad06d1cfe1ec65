"""Deploying an approved candidate: only the approval in force, one deployment per task, the rollout approved
as the default."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_request, swap_approval_revoke
from apps.common.errors import Conflict, DomainError, NotFound, PermissionDenied
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.serving.models import Deployment, DeploymentStatus
from apps.serving.services import deployment_create, deployment_stop
from tests.approvals.factories import endpoint, evaluated

pytestmark = pytest.mark.django_db


def test_deploys_the_approval_in_force_with_the_rollout_approved(approval: SwapApproval, owner: User) -> None:
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    assert (deployment.cluster_id, deployment.evaluation_id, deployment.project_id) == (
        approval.cluster_id, approval.evaluation_id, approval.project_id
    )  # fmt: skip
    assert (deployment.backend, deployment.mode, deployment.canary_percent) == ("endpoint", "shadow", 10)
    assert (deployment.status, deployment.healthy, deployment.routes_to_specialist) == ("starting", False, False)
    assert (deployment.who, deployment.created_by, deployment.stopped_at) == ("owner", owner, None)


def test_mode_and_canary_given_override_the_rollout(
    ready: Evaluation, approve: Callable[..., SwapApproval], owner: User
) -> None:
    approval = approve(ready, shadow=False, canary_percent=25)
    assert deployment_create(approval=approval, actor=Actor(user=owner)).mode == "live"
    deployment = Deployment.objects.get()
    deployment_stop(deployment=deployment, actor=Actor(user=owner))
    again = deployment_create(approval=approval, actor=Actor(user=owner), mode="shadow", canary_percent=100)
    assert (again.mode, again.canary_percent) == ("shadow", 100)


def test_a_rejection_or_a_request_is_not_deployed(
    task: TaskCluster, project: Project, owner: User, engineer: User
) -> None:
    candidate = evaluated(task, endpoint(project, name="other", model="m"), wrong=2)
    request = swap_approval_request(evaluation=candidate, actor=Actor(user=engineer))
    with pytest.raises(Conflict, match="only requests approval") as info:
        deployment_create(approval=request, actor=Actor(user=owner))
    assert info.value.field == "approval"
    rejection = swap_approval_decide(evaluation=candidate, actor=Actor(user=owner), decision="reject", comment="No.")
    with pytest.raises(Conflict, match="rejects its candidate"):
        deployment_create(approval=rejection, actor=Actor(user=owner))
    assert not Deployment.objects.exists()


def test_a_revoked_approval_is_not_deployed(approval: SwapApproval, ready: Evaluation, owner: User) -> None:
    revocation = swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift.")
    with pytest.raises(Conflict, match=r"This approval was revoked by owner on .*back on the LLM"):
        deployment_create(approval=approval, actor=Actor(user=owner))
    with pytest.raises(Conflict, match="is a revocation"):
        deployment_create(approval=revocation, actor=Actor(user=owner))
    assert not Deployment.objects.exists()


def test_a_task_has_one_deployment_at_a_time(approval: SwapApproval, owner: User) -> None:
    first = deployment_create(approval=approval, actor=Actor(user=owner))
    with pytest.raises(Conflict, match="has a deployment already"):
        deployment_create(approval=approval, actor=Actor(user=owner))
    deployment_stop(deployment=first, actor=Actor(user=owner))
    second = deployment_create(approval=approval, actor=Actor(user=owner))
    assert second.status == DeploymentStatus.STARTING
    assert Deployment.objects.exclude(status=DeploymentStatus.STOPPED).get() == second


def test_the_database_refuses_a_second_active_deployment_of_a_task(approval: SwapApproval, owner: User) -> None:
    first = deployment_create(approval=approval, actor=Actor(user=owner))
    copy = {f: getattr(first, f) for f in ("project_id", "cluster_id", "approval_id", "evaluation_id", "backend")}
    with pytest.raises(IntegrityError, match="deployment_one_active_per_task"), transaction.atomic():
        Deployment.objects.create(**copy, mode="live", canary_percent=5, status="serving", who="x")
    Deployment.objects.create(**copy, mode="live", canary_percent=5, status="stopped", stopped_at=first.created_at)


def test_live_with_no_canary_is_refused(approval: SwapApproval, owner: User) -> None:
    with pytest.raises(DomainError, match="answers no call") as info:
        deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=0)
    assert (info.value.field, info.value.status) == ("canary_percent", 422)
    with pytest.raises(DomainError) as info:
        deployment_create(approval=approval, actor=Actor(user=owner), canary_percent=101)
    assert info.value.field == "canary_percent"
    with pytest.raises(DomainError) as info:
        deployment_create(approval=approval, actor=Actor(user=owner), mode="canary")
    assert info.value.field == "mode"


def test_a_member_of_another_project_does_not_see_the_approval(approval: SwapApproval, outsider: User) -> None:
    with pytest.raises(NotFound) as info:
        deployment_create(approval=approval, actor=Actor(user=outsider))
    assert info.value.field == "approval"


def test_only_owners_and_admins_deploy(approval: SwapApproval, engineer: User, admin_user: User) -> None:
    with pytest.raises(PermissionDenied, match="Only owners and admins"):
        deployment_create(approval=approval, actor=Actor(user=engineer))
    assert deployment_create(approval=approval, actor=Actor(user=admin_user)).who == "admin"


def test_a_task_no_longer_active_is_not_deployed_to(approval: SwapApproval, task: TaskCluster, owner: User) -> None:
    TaskCluster.objects.filter(id=task.id).update(status="retired")
    with pytest.raises(Conflict, match="This task is no longer found"):
        deployment_create(approval=approval, actor=Actor(user=owner))
