"""The gateway's route on the call log (a column and a filter) and on the call page (its Gateway section:
the task, and for escalated and shadow calls the specialist's answer beside the LLM's)."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.selectors import CallFilters, call_queryset
from apps.calls.services import calls_ingest
from apps.common.errors import DomainError
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from tests.approvals.factories import label_task
from tests.conftest import make_call

URL = "/p/acme/calls/"
TEXTS = ("Logged by the SDK", "Went to the LLM", "Answered small", "Escalated one", "Shadowed one")


def stored(project: Project, text: str, **metadata: Any) -> Call:
    record = make_call(
        request={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
        response={"role": "assistant", "content": "positive"},
        metadata=metadata,
    )
    result = calls_ingest(project=project, batch=Batch(records=[(0, record)]))
    assert result.accepted == 1, result.rejected
    return Call.objects.filter(project=project).latest("received_at")


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def calls(project: Project, task: TaskCluster) -> dict[str, Call]:
    gateway = {"downshift_task": str(task.id)}
    return {
        "plain": stored(project, "Logged by the SDK"),
        "llm": stored(project, "Went to the LLM", downshift_route="llm", downshift_task=""),
        "specialist": stored(project, "Answered small", downshift_route="specialist", **gateway),
        "placed": stored(
            project, "Placed by its text", downshift_route="llm", downshift_task_by="embedding", **gateway
        ),
        "escalated": stored(
            project,
            "Escalated one",
            downshift_route="escalated",
            downshift_escalation="The answer is not one of the task's labels",
            downshift_specialist_answer={"role": "assistant", "content": "maybe-ish"},
            **gateway,
        ),
        "shadow": stored(
            project,
            "Shadowed one",
            downshift_route="shadow",
            downshift_shadow={"agree": False, "reason": "Different label"},
            downshift_specialist_answer={"role": "assistant", "content": "negative"},
            **gateway,
        ),
    }


def rows(body: str) -> list[str]:
    return [row for row in body.split("<tr")[2:] if "/calls/" in row]


def test_the_log_shows_each_calls_route_and_blank_for_others(viewer_client: Client, calls: dict[str, Call]) -> None:
    body = viewer_client.get(URL).content.decode()
    assert '<th title="Where the gateway sent the call; blank for calls logged otherwise">Route</th>' in body
    by_text = {text: row for row in rows(body) for text in TEXTS if text in row}
    assert 'route-llm">LLM<' in by_text["Went to the LLM"]
    assert 'route-specialist">Specialist<' in by_text["Answered small"]
    assert 'route-escalated">Escalated<' in by_text["Escalated one"]
    assert 'route-shadow">Shadow<' in by_text["Shadowed one"]
    assert "route-badge" not in by_text["Logged by the SDK"]


@pytest.mark.parametrize(
    ("route", "shown"),
    [
        ("shadow", ["Shadowed one"]),
        ("escalated", ["Escalated one"]),
        ("specialist", ["Answered small"]),
        ("llm", ["Went to the LLM"]),
        ("none", ["Logged by the SDK"]),
    ],
)
def test_the_route_filter_keeps_those_calls(
    viewer_client: Client, calls: dict[str, Call], route: str, shown: list[str]
) -> None:
    response = viewer_client.get(URL, {"route": route})
    assert response.status_code == 200
    listed = [text for text in TEXTS if text in "".join(rows(response.content.decode()))]
    assert listed == shown
    assert f'<option value="{route}" selected>' in response.content.decode()


def test_a_bad_route_is_400(viewer_client: Client, project: Project) -> None:
    response = viewer_client.get(URL, {"route": "moon"})
    assert response.status_code == 400
    assert "Route is LLM, Specialist, Escalated, Shadow" in response.content.decode()
    with pytest.raises(DomainError):
        call_queryset(project=project, filters=CallFilters(route="moon"))


def test_the_route_filter_can_use_its_index(project: Project, calls: dict[str, Call]) -> None:
    queryset = call_queryset(project=project, filters=CallFilters(route="shadow")).order_by("-timestamp")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
    assert "call_project_route_time" in plan


def test_the_call_page_of_a_shadow_call_shows_both_answers_and_the_agreement(
    viewer_client: Client, calls: dict[str, Call], task: TaskCluster
) -> None:
    call = calls["shadow"]
    body = viewer_client.get(f"{URL}{call.id}/").content.decode()
    gateway = body.split('id="gateway"', 1)[1].split("</section>", 1)[0]
    assert 'route-shadow">Shadow<' in gateway
    assert f"{task.code} {task.name}" in gateway and f"/tasks/{task.id}/deployment/" in gateway
    assert "Differs" in gateway and "Different label" in gateway
    llm, specialist = gateway.split('pair-output">', 1)
    assert "positive" in llm.split('pair-reference">', 1)[1] and "negative" in specialist


def test_the_call_page_of_an_escalated_call_shows_the_reason_and_both_answers(
    viewer_client: Client, calls: dict[str, Call]
) -> None:
    body = viewer_client.get(f"{URL}{calls['escalated'].id}/").content.decode()
    gateway = body.split('id="gateway"', 1)[1].split("</section>", 1)[0]
    assert "The answer is not one of the task&#x27;s labels" in gateway
    assert "maybe-ish" in gateway.split('pair-output">', 1)[1]


def test_the_call_page_of_a_specialist_call_has_no_pair_and_a_plain_call_no_gateway_section(
    viewer_client: Client, calls: dict[str, Call]
) -> None:
    body = viewer_client.get(f"{URL}{calls['specialist'].id}/").content.decode()
    assert 'id="gateway"' in body and "Answered by the specialist" in body and "pair-grid" not in body
    llm = viewer_client.get(f"{URL}{calls['llm'].id}/").content.decode()
    assert "Sent to the LLM" in llm and "the call fits no deployed task" in llm
    plain = viewer_client.get(f"{URL}{calls['plain'].id}/").content.decode()
    assert 'id="gateway"' not in plain


def test_the_call_page_says_when_the_task_was_found_by_the_requests_embedding(
    viewer_client: Client, calls: dict[str, Call]
) -> None:
    placed = viewer_client.get(f"{URL}{calls['placed'].id}/").content.decode()
    assert "found by the request's embedding" in placed
    specialist = viewer_client.get(f"{URL}{calls['specialist'].id}/").content.decode()
    assert "found by the request's embedding" not in specialist
