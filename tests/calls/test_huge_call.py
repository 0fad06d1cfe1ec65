"""A 5 MB call: stored through the API with its personal data removed to the last character, and its
page a screenful of each text with a link to the raw JSON (tens of KB, not the 10 MB it used to be)."""

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import escape

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.common.templatetags.chat import TEXT_CHARS, TURNS_FIRST, TURNS_LAST
from apps.projects.models import Project
from tests.conftest import make_call

FILLER = "the parcel went back to the depot and nobody told us why it was late again "
MB = 1024 * 1024
PAGE_LIMIT = 100_000  # bytes of HTML for any call


def huge_text(size: int = 5 * MB) -> str:
    head, tail = "Mail ann.lee@example.com about it. ", " Or write to bo.ek@example.org"
    body = (FILLER * (size // len(FILLER) + 1))[: size - len(head) - len(tail)]
    return head + body + tail


def store(project: Project, record: dict[str, Any]) -> Call:
    result = calls_ingest(project=project, batch=Batch(records=[(0, record)]))
    assert result.accepted == 1, result.rejected
    return Call.objects.get(project=project, client_id=record["id"])


@pytest.fixture(autouse=True)
def _budget(settings: Any) -> None:
    """These calls are over the default text budget (tests/calls/test_ingest_budget.py): an installation that
    takes them raises it, and they are then redacted whole."""
    settings.INGEST_MAX_CALL_TEXT_CHARS = settings.INGEST_MAX_REQUEST_TEXT_CHARS = 7 * MB


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def test_a_5_mb_call_is_stored_through_the_api_redacted_to_its_last_character(
    api_client: Client, project: Project
) -> None:
    record = make_call(id="huge")
    record["request"]["messages"][1]["content"] = huge_text()
    body = orjson.dumps({"calls": [record]})
    assert len(body) > 5 * MB

    response = api_client.post("/api/v1/calls", body, content_type="application/json")

    assert response.status_code == 200 and response.json()["accepted"] == 1
    content = Call.objects.get(project=project, client_id="huge").request["messages"][1]["content"]
    assert len(content) > 5 * MB - 100
    assert "@example" not in content
    assert content.startswith("Mail <EMAIL_ADDRESS> about it.") and content.endswith("write to <EMAIL_ADDRESS>")


def test_the_page_of_a_5_mb_call_shows_a_screenful_and_links_the_raw_json(
    viewer_client: Client, project: Project
) -> None:
    record = make_call(id="huge")
    record["request"]["messages"][1]["content"] = huge_text()
    record["response"] = {"role": "assistant", "content": huge_text(MB)}
    call = store(project, record)
    text = call.request["messages"][1]["content"]

    response = viewer_client.get(f"/p/acme/calls/{call.id}/")

    html = response.content.decode()
    assert response.status_code == 200 and len(response.content) < PAGE_LIMIT
    assert escape(text[:TEXT_CHARS]) in html
    # a screenful of the message and of the answer, and of the message again in the raw request's preview
    assert html.count("nobody told us") <= 3 * (TEXT_CHARS // len(FILLER) + 1)
    assert f"{len(text) - TEXT_CHARS:,} more characters not shown" in html
    assert f"{len(call.response['content']) - TEXT_CHARS:,} more characters not shown" in html
    raw = f"/p/acme/calls/{call.id}/json/"
    assert f'<a href="{raw}">the whole call as JSON</a>' in html
    whole = viewer_client.get(raw)
    assert whole.status_code == 200 and whole.json()["request"]["messages"][1]["content"] == text


def test_a_long_conversation_shows_its_first_and_last_turns(viewer_client: Client, project: Project) -> None:
    messages = [{"role": "user" if i % 2 else "assistant", "content": f"turn number {i + 1}"} for i in range(500)]
    call = store(project, make_call(id="long", request={"model": "gpt-4o", "messages": messages}))

    html = viewer_client.get(f"/p/acme/calls/{call.id}/").content.decode()

    assert "Conversation sent (500 messages)" in html
    assert f"{500 - TURNS_FIRST - TURNS_LAST} messages not shown" in html
    shown = [i for i in range(1, 501) if f"turn number {i}<" in html]
    assert shown == [*range(1, TURNS_FIRST + 1), *range(501 - TURNS_LAST, 501)]


def test_huge_json_parts_images_and_metadata_are_shortened(viewer_client: Client, project: Project) -> None:
    rows = [{"sku": f"A-{i}", "note": "fine"} for i in range(50_000)]
    image = "data:image/png;base64," + "iVBORw0KGgo" * 100_000
    record = make_call(id="json", metadata={"trace": "x" * 300_000, "rows": list(range(10_000))})
    record["request"]["tools"] = [
        {"type": "function", "function": {"name": f"tool_{i}", "parameters": {"type": "object"}}} for i in range(80)
    ]
    record["request"]["messages"] += [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"rows": rows})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": json.dumps(rows)},
    ]
    call = store(project, record)

    response = viewer_client.get(f"/p/acme/calls/{call.id}/")

    html = response.content.decode()
    assert response.status_code == 200 and len(response.content) < PAGE_LIMIT
    assert "A-0" in html and "A-49999" not in html and "Shortened for this page" in html
    assert "iVBORw0KGgo" * 20 not in html and "too large to show here" in html
    assert "tool_49" in html and "tool_50" not in html and "30 more tools not shown" in html
