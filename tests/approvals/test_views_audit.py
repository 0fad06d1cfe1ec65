"""The audit page lists every decision of the project: who, when, decision, task, candidate, agreement,
verdict, comment."""

import re
from collections.abc import Callable
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.services import Actor, swap_approval_decide, swap_approval_request, swap_approval_revoke
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from tests.approvals.factories import endpoint, evaluated, label_task

pytestmark = pytest.mark.django_db
URL = "/p/acme/approvals/"


def rows(html: str) -> list[str]:
    body = html.split('<table class="table audit">')[1].split("</table>")[0]
    return [unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))) for row in body.split("<tr>")[2:]]


@pytest.fixture
def history(engineer: User, owner: User, ready: Evaluation, not_ready: Evaluation) -> None:
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer), comment="Ready on 40 calls.")
    swap_approval_decide(
        evaluation=not_ready, actor=Actor(user=owner), decision="reject", comment="Too many wrong labels."
    )
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go, shadow first.")
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift on new calls.")


def test_lists_every_decision_newest_first(
    login: Callable[[User], Client], viewer: User, history: None, ready: Evaluation
) -> None:
    response = login(viewer).get(URL)
    assert response.status_code == 200
    found = rows(response.content.decode())
    assert len(found) == 4
    assert "owner" in found[0] and "Revoked" in found[0] and "Drift on new calls." in found[0]
    approved = found[1]
    for expected in ("owner", "Approved", ready.cluster.code, "qwen-small", "95.0%", "Ready", "Go, shadow first.",
                     "Shadow first, then 10% of calls; invalid answers escalate to the LLM"):  # fmt: skip
        assert expected in approved, expected
    assert "Rejected" in found[2] and "tiny" in found[2] and "25.0%" in found[2] and "Not ready" in found[2]
    assert "engineer" in found[3] and "Approval requested" in found[3] and "Ready on 40 calls." in found[3]
    assert ready.test_hash[:8] in approved


def test_filters_one_kind_with_htmx(login: Callable[[User], Client], viewer: User, history: None) -> None:
    response = login(viewer).get(f"{URL}?decision=reject", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-table"') and "<html" not in html
    found = rows(html)
    assert len(found) == 1 and "Rejected" in found[0]


def test_other_projects_decisions_are_not_listed(
    login: Callable[[User], Client], viewer: User, other_project: Project, outsider: User
) -> None:
    theirs = evaluated(label_task(other_project, calls=4), endpoint(other_project), wrong=0)
    swap_approval_decide(
        evaluation=theirs, actor=Actor(user=outsider), decision="approve", comment="Theirs.", reason_not_ready="Few."
    )
    html = login(viewer).get(URL).content.decode()
    assert "Theirs." not in html and "No decision yet" in html


def test_the_project_menu_links_the_audit(login: Callable[[User], Client], viewer: User) -> None:
    html = login(viewer).get(URL).content.decode()
    assert f'<a href="{URL}" aria-current="page">Approvals</a>' in html


def test_an_outsider_gets_404_and_post_is_405(
    login: Callable[[User], Client], outsider: User, viewer: User, project: Project
) -> None:
    assert login(outsider).get(URL).status_code == 404
    assert login(viewer).post(URL).status_code == 405
