"""The approval panel's form: owners approve or reject, engineers request, everyone else is refused; with
htmx the panel comes back alone, without JavaScript the page."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import Decision, SwapApproval
from apps.approvals.services import Actor, swap_approval_decide
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from tests.approvals.factories import endpoint, evaluated, label_task

pytestmark = pytest.mark.django_db
URL = "/p/acme/approvals/decide/"
HX = {"HTTP_HX_REQUEST": "true"}
ROLLOUT = {"shadow": "on", "canary_percent": "15", "escalate_on_invalid": "on"}


def form(evaluation: Evaluation, decision: str, **fields: Any) -> dict[str, Any]:
    return {"evaluation": str(evaluation.id), "decision": decision, "comment": "Checked it.", **ROLLOUT, **fields}


def report_url(evaluation: Evaluation) -> str:
    return f"/p/acme/tasks/{evaluation.cluster_id}/evaluation/?candidate={evaluation.id}"


def test_an_owner_approves_and_is_sent_back_to_the_report(
    login: Callable[[User], Client], owner: User, ready: Evaluation
) -> None:
    client = login(owner)
    response = client.post(URL, form(ready, "approve"))
    assert response.status_code == 302 and response["Location"] == report_url(ready)
    record = SwapApproval.objects.get()
    assert (record.decision, record.user, record.comment) == (Decision.APPROVE, owner, "Checked it.")
    assert record.rollout == {"shadow": True, "canary_percent": 15, "escalate_on_invalid": True}
    html = client.get(response["Location"]).content.decode()
    assert "Approved." in html and "is approved to replace the LLM on this task" in html


def test_with_htmx_the_panel_comes_back_alone(login: Callable[[User], Client], owner: User, ready: Evaluation) -> None:
    response = login(owner).post(URL, form(ready, "approve", shadow=""), **HX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="approval-panel"')
    assert "<html" not in html and "Approved." in html and "Revoke this approval" in html
    assert SwapApproval.objects.get().rollout["shadow"] is False


def test_an_unchecked_box_is_false(login: Callable[[User], Client], owner: User, ready: Evaluation) -> None:
    data = form(ready, "approve")
    del data["escalate_on_invalid"]
    login(owner).post(URL, data)
    assert SwapApproval.objects.get().rollout["escalate_on_invalid"] is False


def test_not_ready_without_a_reason_shows_the_panel_again(
    login: Callable[[User], Client], owner: User, not_ready: Evaluation
) -> None:
    client = login(owner)
    response = client.post(URL, form(not_ready, "approve"), **HX)
    html = response.content.decode()
    assert response.status_code == 400 and html.lstrip().startswith('<section id="approval-panel"')
    assert "write down why it should replace the LLM anyway" in html and 'name="reason_not_ready"' in html
    assert not SwapApproval.objects.exists()
    page = client.post(URL, form(not_ready, "approve"))
    assert page.status_code == 400 and "<html" in page.content.decode() and "Swap approval for" in page.content.decode()
    client.post(URL, form(not_ready, "approve", reason_not_ready="Shadow first; misses are sarcasm."))
    assert SwapApproval.objects.get().reason_not_ready == "Shadow first; misses are sarcasm."


def test_an_owner_rejects(login: Callable[[User], Client], owner: User, not_ready: Evaluation) -> None:
    login(owner).post(URL, form(not_ready, "reject", comment="Too many misses."), **HX)
    assert SwapApproval.objects.get().decision == Decision.REJECT


def test_an_engineer_requests_but_cannot_approve(
    login: Callable[[User], Client], engineer: User, ready: Evaluation
) -> None:
    client = login(engineer)
    response = client.post(URL, form(ready, "approve"))
    assert response.status_code == 403 and "Only owners and admins" in response.content.decode()
    response = client.post(URL, form(ready, "request", comment="Please look."), **HX)
    assert response.status_code == 200 and "Approval requested" in response.content.decode()
    record = SwapApproval.objects.get()
    assert (record.decision, record.who, record.rollout["canary_percent"]) == (Decision.REQUEST, "engineer", 15)
    assert "Approval of this candidate is requested" in response.content.decode()


def test_a_viewer_cannot_decide(login: Callable[[User], Client], viewer: User, ready: Evaluation) -> None:
    client = login(viewer)
    assert client.post(URL, form(ready, "request")).status_code == 403
    assert client.post(URL, form(ready, "approve")).status_code == 403
    assert not SwapApproval.objects.exists()


def test_an_owner_revokes(login: Callable[[User], Client], owner: User, ready: Evaluation) -> None:
    approval = swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    client = login(owner)
    missing = client.post(URL, {"evaluation": str(ready.id), "decision": "revoke", "comment": ""}, **HX)
    assert missing.status_code == 400 and "Say why you are revoking it" in missing.content.decode()
    response = client.post(URL, {"evaluation": str(ready.id), "decision": "revoke", "comment": "Drift."}, **HX)
    assert response.status_code == 200 and "the task goes back to the LLM" in response.content.decode()
    assert SwapApproval.objects.get(decision=Decision.REVOKE).revokes == approval


def test_a_decision_the_task_refuses_is_a_409_with_the_reason(
    login: Callable[[User], Client], owner: User, ready: Evaluation, not_ready: Evaluation
) -> None:
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    response = login(owner).post(URL, form(not_ready, "approve", reason_not_ready="cheaper"), **HX)
    assert response.status_code == 409 and "revoke that approval before approving another" in response.content.decode()


def test_bad_input_is_400(login: Callable[[User], Client], owner: User, ready: Evaluation) -> None:
    client = login(owner)
    assert client.post(URL, form(ready, "bless"), **HX).status_code == 400
    response = client.post(URL, form(ready, "approve", canary_percent="140"), **HX)
    assert response.status_code == 400 and "less than or equal to 100" in response.content.decode()
    assert not SwapApproval.objects.exists()


def test_another_projects_evaluation_is_404(
    login: Callable[[User], Client], owner: User, other_project: Project
) -> None:
    theirs = evaluated(label_task(other_project, calls=4), endpoint(other_project), wrong=0)
    assert login(owner).post(URL, form(theirs, "approve")).status_code == 404
    assert login(owner).post(URL, {"evaluation": "nope", "decision": "approve"}).status_code == 404


def test_get_is_405_and_anonymous_logs_in(client: Client, login: Callable[[User], Client], owner: User) -> None:
    response = client.post(URL, {})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert login(owner).get(URL).status_code == 405
