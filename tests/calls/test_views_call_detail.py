import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.projects.models import Project
from tests.conftest import make_call


def stored(project: Project, **fields: Any) -> Call:
    result = calls_ingest(project=project, batch=Batch(records=[(0, make_call(**fields))]))
    assert result.accepted == 1, result.rejected
    return Call.objects.filter(project=project).latest("received_at")


def url(call: Call) -> str:
    return f"/p/{call.project.slug}/calls/{call.id}/"


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


TOOL_CALL = {
    "request": {
        "model": "gpt-4o",
        "temperature": 0.2,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": "You are Aria."},
            {"role": "user", "content": [{"type": "text", "text": "Weather at the harbour tomorrow?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_w1",
                        "type": "function",
                        "function": {"name": "GetWeather", "arguments": '{"spot": "harbour", "day": "tomorrow"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_w1", "content": '{"forecast": "rain"}'},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "GetWeather",
                    "description": "Forecast for a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
    },
    "response": {
        "role": "assistant",
        "content": "Rain tomorrow; I set a reminder.",
        "tool_calls": [
            {
                "id": "call_r1",
                "type": "function",
                "function": {"name": "AddReminder", "arguments": '{"text": "umbrella"}'},
            }
        ],
        "finish_reason": "tool_calls",
    },
}


def test_shows_the_facts_and_the_conversation(viewer_client: Client, project: Project) -> None:
    call = stored(
        project,
        id="client-42",
        workload="triage",
        ttft_ms=150,
        trace_id="trace-abc",
        span_id="span-1",
        parent_span_id="span-0",
        metadata={"customer_tier": "enterprise"},
    )
    response = viewer_client.get(url(call))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    for fact in ("support-bot", "gpt-4o", "triage", "420 ms", "150 ms", "1,000", "client-42", "trace-abc", "span-0"):
        assert fact in html, fact
    assert "$0.00350" in html  # 1,000 in and 100 out at gpt-4o's seeded list price
    assert "customer_tier" in html and "enterprise" in html
    # each turn is shown with its role, in order, and the response after them
    assert 'class="turn turn-system' in html and 'class="turn turn-user' in html
    assert html.index("Classify the ticket.") < html.index("My card was charged twice.") < html.index(">billing<")
    assert 'id="response"' in html


def test_shows_tool_calls_tool_results_tools_and_parameters(viewer_client: Client, project: Project) -> None:
    html = viewer_client.get(url(stored(project, **TOOL_CALL))).content.decode()
    # the assistant's tool call: function name and arguments pretty-printed as JSON
    assert '<span class="fn">GetWeather</span>' in html
    assert "{\n  &quot;spot&quot;: &quot;harbour&quot;,\n  &quot;day&quot;: &quot;tomorrow&quot;\n}" in html
    # the tool's result names the call it answers
    assert 'class="turn turn-tool' in html and 'href="#tc-call_w1"' in html and 'id="tc-call_w1"' in html
    # the tools offered, collapsible, and the other request parameters
    assert "<details" in html and "Forecast for a city." in html
    assert "temperature" in html and "0.2" in html and "response_format" in html and "json_object" in html
    # the response: content and its own tool call
    assert "Rain tomorrow; I set a reminder." in html and '<span class="fn">AddReminder</span>' in html
    assert "tool_calls" in html  # finish reason


def test_a_failed_call_shows_its_error(viewer_client: Client, project: Project) -> None:
    html = viewer_client.get(url(stored(project, status="error", error="RateLimitError: 429", response=None)))
    text = html.content.decode()
    assert "The call failed." in text and "RateLimitError: 429" in text and "No response was recorded" in text


def test_message_text_is_escaped(viewer_client: Client, project: Project) -> None:
    call = stored(
        project,
        request={"model": "gpt-4o", "messages": [{"role": "user", "content": "<script>alert('x')</script>"}]},
    )
    html = viewer_client.get(url(call)).content.decode()
    assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html


def test_htmx_gets_only_the_call_fragment(viewer_client: Client, project: Project) -> None:
    response = viewer_client.get(url(stored(project)), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="call-detail">') and "<html" not in html
    assert "My card was charged twice." in html


def test_another_projects_call_is_404(viewer_client: Client, other_project: Project) -> None:
    call = stored(other_project)
    assert viewer_client.get(f"/p/acme/calls/{call.id}/").status_code == 404


def test_an_unknown_id_is_404(viewer_client: Client, project: Project) -> None:
    assert viewer_client.get(f"/p/acme/calls/{uuid.uuid4()}/").status_code == 404
    assert viewer_client.get("/p/acme/calls/12/").status_code == 404


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    call = stored(project)
    response = client.get(url(call))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User, project: Project) -> None:
    assert login(outsider).get(url(stored(project))).status_code == 404


def test_post_is_405(viewer_client: Client, project: Project) -> None:
    assert viewer_client.post(url(stored(project))).status_code == 405


def test_the_page_says_what_personal_data_was_removed(client, project, viewer) -> None:  # type: ignore[no-untyped-def]
    from apps.calls.ingest import Batch
    from apps.calls.models import Call
    from apps.calls.services import calls_ingest
    from tests.conftest import make_call

    record = make_call(id="pii")
    record["request"]["messages"][1]["content"] = "Mail me at pat@example.com"
    calls_ingest(project=project, batch=Batch(records=[(0, record)]))
    call = Call.objects.get(project=project, client_id="pii")
    client.force_login(viewer)
    page = client.get(f"/p/{project.slug}/calls/{call.id}/").content.decode()
    assert "pat@example.com" not in page
    assert "&lt;EMAIL_ADDRESS&gt;</code> \u00d7 1" in page
