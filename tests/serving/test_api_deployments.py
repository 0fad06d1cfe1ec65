"""POST, PATCH, DELETE and GET /api/v1/deployments: the 'approve' scope to change, 'read' to list; another
project's approval or deployment is a 404; an approval not in force, or a second deployment of a task, a 409."""

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_revoke
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.serving.models import Deployment
from apps.serving.services import deployment_create
from tests.approvals.factories import endpoint, evaluated, label_task

pytestmark = pytest.mark.django_db
URL = "/api/v1/deployments"


def send(client: Client, method: str, url: str, body: dict[str, Any] | None = None, **headers: Any) -> Any:
    return getattr(client, method)(url, json.dumps(body or {}), content_type="application/json", **headers)


def test_deploys_an_approved_candidate(approver_client: Client, approval: SwapApproval, ready: Evaluation) -> None:
    response = send(approver_client, "post", URL, {"approval": str(approval.id), "mode": "live", "canary_percent": 5})
    assert response.status_code == 201, response.json()
    body = response.json()
    deployment = Deployment.objects.get(id=body["id"])
    assert (body["approval"], body["evaluation"], body["cluster"]) == (
        str(approval.id), str(ready.id), str(ready.cluster_id)
    )  # fmt: skip
    assert (body["mode"], body["canary_percent"], body["backend"], body["status"]) == (
        "live",
        5,
        "endpoint",
        "starting",
    )
    assert (body["healthy"], body["routes_to_specialist"], body["who"]) == (False, False, "API key release")
    assert body["candidate"] == "qwen-small" and deployment.created_by is None


def test_mode_and_canary_default_to_the_rollout_approved(approver_client: Client, approval: SwapApproval) -> None:
    body = send(approver_client, "post", URL, {"approval": str(approval.id)}).json()
    assert (body["mode"], body["canary_percent"]) == ("shadow", 10)


def test_no_key_is_401_and_a_key_without_approve_is_403(
    client: Client, project: Project, approval: SwapApproval, owner: User
) -> None:
    assert send(client, "post", URL, {"approval": str(approval.id)}).status_code == 401
    _, secret = api_key_create(project=project, name="engineer", scopes=["read", "discover", "ingest"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    response = send(client, "post", URL, {"approval": str(approval.id)}, **auth)
    assert response.status_code == 403 and "'approve'" in response.json()["message"]
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    assert send(client, "patch", f"{URL}/{deployment.id}", {"canary_percent": 50}, **auth).status_code == 403
    assert client.delete(f"{URL}/{deployment.id}", **auth).status_code == 403
    assert client.get(URL, **auth).status_code == 200
    _, approve_only = api_key_create(project=project, name="approve-only", scopes=["approve"], created_by=owner)
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {approve_only}")
    assert response.status_code == 403 and "'read'" in response.json()["message"]
    deployment.refresh_from_db()
    assert (deployment.canary_percent, deployment.status) == (10, "starting")


def test_another_projects_approval_or_deployment_is_404(
    approver_client: Client, other_project: Project, outsider: User
) -> None:
    theirs = evaluated(label_task(other_project), endpoint(other_project))
    approval = swap_approval_decide(evaluation=theirs, actor=Actor(user=outsider), decision="approve", comment="ok")
    response = send(approver_client, "post", URL, {"approval": str(approval.id)})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "approval"
    deployment = deployment_create(approval=approval, actor=Actor(user=outsider))
    assert send(approver_client, "patch", f"{URL}/{deployment.id}", {"canary_percent": 50}).status_code == 404
    assert approver_client.delete(f"{URL}/{deployment.id}").status_code == 404
    assert approver_client.get(URL).json() == {"items": []}
    deployment.refresh_from_db()
    assert (deployment.canary_percent, deployment.status) == (10, "starting")


def test_a_revoked_approval_or_a_rejection_is_409(
    approver_client: Client, approval: SwapApproval, ready: Evaluation, owner: User, project: Project
) -> None:
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift.")
    response = send(approver_client, "post", URL, {"approval": str(approval.id)})
    assert response.status_code == 409 and "revoked" in response.json()["message"]
    assert response.json()["errors"][0]["field"] == "approval"
    other = evaluated(ready.cluster, endpoint(project, name="other", model="o"))
    rejection = swap_approval_decide(evaluation=other, actor=Actor(user=owner), decision="reject", comment="No.")
    response = send(approver_client, "post", URL, {"approval": str(rejection.id)})
    assert response.status_code == 409 and "rejects" in response.json()["message"]
    assert not Deployment.objects.exists()


def test_a_second_deployment_of_a_task_is_409(approver_client: Client, approval: SwapApproval) -> None:
    assert send(approver_client, "post", URL, {"approval": str(approval.id)}).status_code == 201
    response = send(approver_client, "post", URL, {"approval": str(approval.id)})
    assert response.status_code == 409 and "stop it before deploying again" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "loud"}, "mode"),
        ({"canary_percent": 101}, "canary_percent"),
        ({"canary_percent": -1}, "canary_percent"),
        ({"canary_percent": "ten"}, "canary_percent"),
        ({"mode": "live", "canary_percent": 0}, "canary_percent"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    approver_client: Client, approval: SwapApproval, body: dict[str, Any], field: str
) -> None:
    response = send(approver_client, "post", URL, {"approval": str(approval.id), **body})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.json()
    deployment = deployment_create(approval=approval, actor=Actor(user=approval.user))
    response = send(approver_client, "patch", f"{URL}/{deployment.id}", body)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.json()


def test_patch_changes_the_canary_and_delete_stops_it(approver_client: Client, approval: SwapApproval) -> None:
    created = send(approver_client, "post", URL, {"approval": str(approval.id)}).json()
    response = send(approver_client, "patch", f"{URL}/{created['id']}", {"canary_percent": 60})
    assert response.status_code == 200 and (response.json()["canary_percent"], response.json()["mode"]) == (
        60,
        "shadow",
    )
    response = approver_client.delete(f"{URL}/{created['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "stopped" and response.json()["stopped_at"] is not None
    response = send(approver_client, "patch", f"{URL}/{created['id']}", {"canary_percent": 70})
    assert response.status_code == 409
    assert Deployment.objects.get().canary_percent == 60


def test_lists_newest_first_and_filters_the_active(
    approver_client: Client, approval: SwapApproval, owner: User
) -> None:
    first = deployment_create(approval=approval, actor=Actor(user=owner))
    send(approver_client, "delete", f"{URL}/{first.id}")
    second = deployment_create(approval=approval, actor=Actor(user=owner))
    assert [item["id"] for item in approver_client.get(URL).json()["items"]] == [str(second.id), str(first.id)]
    assert [item["id"] for item in approver_client.get(URL, {"active": "true"}).json()["items"]] == [str(second.id)]
    assert [item["id"] for item in approver_client.get(URL, {"active": "false"}).json()["items"]] == [str(first.id)]


def test_a_malformed_id_is_422_and_an_unknown_one_404(approver_client: Client) -> None:
    assert approver_client.delete(f"{URL}/not-a-uuid").status_code == 422
    response = approver_client.delete(f"{URL}/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_wrong_method_is_405(approver_client: Client, approval: SwapApproval, owner: User) -> None:
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    assert send(approver_client, "put", f"{URL}/{deployment.id}", {"canary_percent": 5}).status_code == 405
    assert approver_client.delete(URL).status_code == 405
