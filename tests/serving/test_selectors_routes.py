"""The gateway's routes: each active task's deployment that is not stopped and whose approval is in force."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_revoke
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.serving.selectors import deployment_routes
from apps.serving.services import deployment_create, deployment_stop
from tests.approvals.factories import endpoint, evaluated, label_task

pytestmark = pytest.mark.django_db


def test_routes_are_keyed_by_task(
    approval: SwapApproval,
    owner: User,
    project: Project,
    other_project: Project,
    approve: Callable[..., SwapApproval],
) -> None:
    first = deployment_create(approval=approval, actor=Actor(user=owner))
    second_task = label_task(project)
    second = deployment_create(
        approval=approve(evaluated(second_task, endpoint(project, name="b", model="b"))), actor=Actor(user=owner)
    )
    assert deployment_routes(project_id=project.id) == {first.cluster_id: first, second.cluster_id: second}
    assert deployment_routes(project_id=other_project.id) == {}
    deployment_stop(deployment=second, actor=Actor(user=owner))
    assert deployment_routes(project_id=project.id) == {first.cluster_id: first}


def test_a_revoked_approval_takes_its_task_off_the_routes(
    approval: SwapApproval, ready: Evaluation, owner: User, project: Project
) -> None:
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    assert list(deployment_routes(project_id=project.id).values()) == [deployment]
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift.")
    assert deployment_routes(project_id=project.id) == {}
