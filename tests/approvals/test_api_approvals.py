"""POST /api/v1/approvals records a decision (201); GET /api/v1/approvals lists them, newest first, in
pages. Errors in the API's one shape: {"code", "message", "errors": [{"field", "message"}]}."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_request
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.approvals.factories import endpoint, evaluated, label_task

pytestmark = pytest.mark.django_db
URL = "/api/v1/approvals"


@pytest.fixture
def approver(client: Client, project: Project, owner: User) -> Client:
    """A client with a key an owner created with the approve and read scopes."""
    _, secret = api_key_create(project=project, name="release-bot", scopes=["approve", "read"], created_by=owner)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def post(client: Client, body: dict[str, Any]) -> Any:
    return client.post(URL, body, content_type="application/json")


def test_approving_answers_201_with_the_record(approver: Client, ready: Evaluation) -> None:
    rollout = {"shadow": True, "canary_percent": 20, "escalate_on_invalid": False}
    response = post(
        approver, {"evaluation": str(ready.id), "decision": "approve", "comment": "Go.", "rollout": rollout}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    record = SwapApproval.objects.get()
    assert body["id"] == str(record.id) and body["evaluation"] == str(ready.id)
    assert body["cluster"] == str(ready.cluster_id) and body["decision"] == "approve" and body["revokes"] is None
    assert body["who"] == "API key release-bot" and body["comment"] == "Go." and body["rollout"] == rollout
    assert body["verdict"] == "ready" and body["evidence"]["test_hash"] == ready.test_hash
    assert body["evidence"]["agreement"]["value"] == 0.95


def test_a_partial_rollout_keeps_the_other_defaults(approver: Client, ready: Evaluation) -> None:
    body = {"evaluation": str(ready.id), "decision": "approve", "comment": "Go.", "rollout": {"canary_percent": 50}}
    assert post(approver, body).json()["rollout"] == {"shadow": True, "canary_percent": 50, "escalate_on_invalid": True}


def test_reject_and_revoke(approver: Client, ready: Evaluation, not_ready: Evaluation) -> None:
    rejected = post(approver, {"evaluation": str(not_ready.id), "decision": "reject", "comment": "Too weak."})
    assert rejected.status_code == 201 and rejected.json()["decision"] == "reject"
    approval = post(approver, {"evaluation": str(ready.id), "decision": "approve", "comment": "Go."}).json()
    revoked = post(approver, {"evaluation": str(ready.id), "decision": "revoke", "comment": "Drift."})
    assert revoked.status_code == 201 and revoked.json()["revokes"] == approval["id"]


def test_a_key_without_the_approve_scope_is_403(api_client: Client, ready: Evaluation) -> None:
    response = post(api_client, {"evaluation": str(ready.id), "decision": "approve", "comment": "Go."})
    assert response.status_code == 403
    assert response.json() == {
        "code": "forbidden",
        "message": "This API key lacks the 'approve' scope; create a key with it on the API keys page",
        "errors": [],
    }
    assert not SwapApproval.objects.exists()


def test_a_request_needs_the_discover_scope(api_client: Client, ready: Evaluation, project: Project) -> None:
    response = post(api_client, {"evaluation": str(ready.id), "decision": "request", "comment": "Please."})
    assert response.status_code == 201 and response.json()["decision"] == "request"
    _, secret = api_key_create(project=project, name="reader", scopes=["read"])
    reader = post(Client(HTTP_AUTHORIZATION=f"Bearer {secret}"), {"evaluation": str(ready.id), "decision": "request"})
    assert reader.status_code == 403 and "'discover' scope" in reader.json()["message"]


def test_another_projects_evaluation_is_404(approver: Client, other_project: Project) -> None:
    theirs = evaluated(label_task(other_project, calls=10), endpoint(other_project), wrong=0)
    response = post(approver, {"evaluation": str(theirs.id), "decision": "approve", "comment": "Go."})
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "No such evaluation in this project",
        "errors": [{"field": "evaluation", "message": "No such evaluation in this project"}],
    }


def test_not_ready_without_a_reason_is_400(approver: Client, not_ready: Evaluation) -> None:
    body = {"evaluation": str(not_ready.id), "decision": "approve", "comment": "Cheap."}
    response = post(approver, body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "reason_required" and error["errors"][0]["field"] == "reason_not_ready"
    assert post(approver, body | {"reason_not_ready": "Shadow first."}).status_code == 201


def test_a_second_approval_on_the_task_is_409(approver: Client, ready: Evaluation, not_ready: Evaluation) -> None:
    post(approver, {"evaluation": str(ready.id), "decision": "approve", "comment": "Go."})
    body = {"evaluation": str(not_ready.id), "decision": "approve", "comment": "Go.", "reason_not_ready": "x"}
    response = post(approver, body)
    assert response.status_code == 409 and response.json()["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"evaluation": None, "decision": "approve"}, "evaluation"),
        ({"evaluation": "not-a-uuid", "decision": "approve"}, "evaluation"),
        ({"decision": "bless"}, "decision"),
        ({"decision": "approve", "rollout": {"canary_percent": 150}}, "rollout.canary_percent"),
        ({"decision": "approve", "rollout": {"dark": True}}, "rollout.dark"),
        ({"decision": "approve", "colour": "green"}, "colour"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    approver: Client, ready: Evaluation, body: dict[str, Any], field: str
) -> None:
    response = post(approver, {"evaluation": str(ready.id), "comment": "Go.", **body})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid" and field in [e["field"] for e in response.json()["errors"]]


def test_no_key_is_401(client: Client, ready: Evaluation) -> None:
    response = post(client, {"evaluation": str(ready.id), "decision": "approve", "comment": "Go."})
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_wrong_method_is_405(approver: Client) -> None:
    assert approver.put(URL, {}, content_type="application/json").status_code == 405


def test_lists_the_projects_decisions_newest_first_in_pages(
    approver: Client, ready: Evaluation, engineer: User, other_project: Project
) -> None:
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer), comment="first")
    post(approver, {"evaluation": str(ready.id), "decision": "approve", "comment": "second"})
    post(approver, {"evaluation": str(ready.id), "decision": "revoke", "comment": "third"})
    theirs = evaluated(label_task(other_project, calls=4), endpoint(other_project), wrong=0)
    outsider = api_key_create(project=other_project, name="ci", scopes=["discover"])[0]
    swap_approval_request(evaluation=theirs, actor=Actor(api_key=outsider))

    first = approver.get(f"{URL}?limit=2").json()
    assert [item["comment"] for item in first["items"]] == ["third", "second"] and first["next_cursor"]
    rest = approver.get(f"{URL}?limit=2&cursor={first['next_cursor']}").json()
    assert [item["comment"] for item in rest["items"]] == ["first"] and rest["next_cursor"] is None
    assert rest["items"][0]["who"] == "engineer"
    by_task = approver.get(f"{URL}?cluster={ready.cluster_id}").json()
    assert len(by_task["items"]) == 3
    assert approver.get(f"{URL}?cluster={theirs.cluster_id}").status_code == 404
    assert approver.get(f"{URL}?cursor=bogus").status_code == 400


def test_listing_needs_the_read_scope(client: Client, project: Project, owner: User) -> None:
    _, secret = api_key_create(project=project, name="approver", scopes=["approve"], created_by=owner)
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and "'read' scope" in response.json()["message"]
