"""Rollback: one call returns a task to the specialist that served it before, or to the LLM, as approval
records like any other (a revocation, a new approval) and an event."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_revoke
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.serving.models import Deployment, ServingEvent
from apps.serving.services import deployment_create
from tests.approvals.factories import endpoint, evaluated


@pytest.fixture
def first(approval: SwapApproval, owner: User) -> Deployment:
    return deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=30)


@pytest.fixture
def second(
    first: Deployment, task: TaskCluster, project: Project, owner: User, approve: Callable[..., SwapApproval]
) -> Deployment:
    """A newer candidate replaced the first: its approval revoked, the new one approved and deployed."""
    swap_approval_revoke(evaluation=first.evaluation, actor=Actor(user=owner), comment="Trying a smaller model.")
    newer: Evaluation = evaluated(task, endpoint(project, name="smaller", model="qwen2.5-0.5b"), wrong=1)
    return deployment_create(approval=approve(newer), actor=Actor(user=owner), mode="live", canary_percent=80)


def rollback(client: Client, deployment: Deployment, **body: str) -> tuple[int, dict]:
    answer = client.post(f"/api/v1/deployments/{deployment.id}/rollback", body, content_type="application/json")
    return answer.status_code, answer.json()


def test_a_rollback_to_the_previous_specialist_redeploys_it_as_it_ran(
    approver_client: Client, first: Deployment, second: Deployment, task: TaskCluster
) -> None:
    status, body = rollback(approver_client, second, to="previous", comment="The smaller one mislabels refunds.")
    assert status == 200, body
    assert body["deployment"]["evaluation"] == str(first.evaluation_id)
    assert (body["deployment"]["mode"], body["deployment"]["canary_percent"]) == ("live", 30)
    second.refresh_from_db()
    assert second.status == "stopped"
    records = list(SwapApproval.objects.filter(cluster=task).order_by("created_at"))
    assert [r.decision for r in records][-2:] == ["revoke", "approve"]
    assert records[-1].evaluation_id == first.evaluation_id
    assert records[-1].comment == records[-2].comment == "The smaller one mislabels refunds."
    event = ServingEvent.objects.get(kind="rollback")
    assert body["event"]["id"] == str(event.id) and event.figures["to"] == body["deployment"]["id"]
    assert "API key release" in event.who and "which served before" in event.message


def test_a_rollback_to_the_llm_revokes_and_stops(approver_client: Client, first: Deployment) -> None:
    assert rollback(approver_client, first, to="previous")[0] == 409  # nothing served before it
    status, body = rollback(approver_client, first, to="llm")
    assert status == 200 and body["deployment"] is None
    first.refresh_from_db()
    assert first.status == "stopped"
    assert SwapApproval.objects.filter(decision="revoke", revokes=first.approval).exists()
    assert body["event"]["figures"]["to"] == "llm"
    assert rollback(approver_client, first, to="llm")[0] == 409  # stopped already
    assert rollback(approver_client, first, to="elsewhere")[0] == 422
