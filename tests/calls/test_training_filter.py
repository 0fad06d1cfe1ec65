"""Training eligibility on ingest, and the "training" filter of the call log and the API."""

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

URL = "/p/acme/calls/"
API_URL = "/api/v1/calls"


def ask(call_id: str, text: str, **fields: Any) -> dict[str, Any]:
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    return make_call(id=call_id, request=request, **fields)


@pytest.fixture
def calls(project: Project) -> dict[str, Call]:
    """A trainable call, an exact duplicate of it, a truncated one and a failed one, by client id."""
    # a ChatCompletion-shaped response: finish_reason is read from choices[0]
    cut_off = {"choices": [{"message": {"role": "assistant", "content": "Once upon"}, "finish_reason": "length"}]}
    records = [
        ask("normal", "Where is my parcel?", timestamp="2026-03-01T10:00:00Z"),
        ask("copy", "Where is my parcel?", timestamp="2026-03-01T11:00:00Z"),
        ask("cut", "Write me a long essay", timestamp="2026-03-01T12:00:00Z", response=cut_off),
        ask("failed", "Translate this", timestamp="2026-03-01T13:00:00Z", status="error", error="boom", response=None),
    ]
    result = calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    assert result.accepted == 4, result.rejected
    return {call.client_id: call for call in Call.objects.filter(project=project)}


def detail_link(call: Call) -> str:
    return f'href="/p/acme/calls/{call.id}/"'


def test_ingest_stores_eligibility_and_the_original_of_a_duplicate(calls: dict[str, Call]) -> None:
    verdicts = {cid: (c.trainable, c.exclusion_reason, c.duplicate_of) for cid, c in calls.items()}
    assert verdicts == {
        "normal": (True, "", None),
        "copy": (False, "duplicate", calls["normal"].id),
        "cut": (False, "truncated", None),
        "failed": (False, "error", None),
    }
    assert calls["cut"].finish_reason == "length"


def test_a_duplicate_of_a_call_stored_earlier_points_to_it(project: Project, calls: dict[str, Call]) -> None:
    calls_ingest(project=project, batch=Batch(records=[(0, ask("later", "where is my   PARCEL?"))]))
    later = Call.objects.get(project=project, client_id="later")
    assert (later.trainable, later.exclusion_reason, later.duplicate_of) == (False, "duplicate", calls["normal"].id)


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


@pytest.mark.parametrize(
    ("training", "shown"),
    [
        ("yes", {"normal"}),
        ("no", {"copy", "cut", "failed"}),
        ("duplicate", {"copy"}),
        ("truncated", {"cut"}),
        ("error", {"failed"}),
        ("", {"normal", "copy", "cut", "failed"}),
    ],
)
def test_the_call_log_filters_by_training_eligibility(
    viewer_client: Client, calls: dict[str, Call], training: str, shown: set[str]
) -> None:
    response = viewer_client.get(URL, {"training": training})
    html = response.content.decode()
    assert response.status_code == 200
    assert {cid for cid, call in calls.items() if detail_link(call) in html} == shown
    if training:
        assert f'<option value="{training}" selected>' in html


def test_the_training_column_names_the_reason(viewer_client: Client, calls: dict[str, Call]) -> None:
    html = viewer_client.get(URL).content.decode()
    assert "<th>Training</th>" in html
    assert 'title="May become training data">Yes</span>' in html
    assert 'title="Not used for training">Duplicate prompt</span>' in html
    assert 'title="Not used for training">Truncated (length limit)</span>' in html
    assert 'title="Not used for training">Error response</span>' in html


def test_no_match_for_a_training_filter_offers_to_clear(viewer_client: Client, calls: dict[str, Call]) -> None:
    html = viewer_client.get(URL, {"training": "near_duplicate"}).content.decode()
    assert "No calls match these filters" in html


def test_an_unknown_training_value_is_400_with_a_message(viewer_client: Client, calls: dict[str, Call]) -> None:
    response = viewer_client.get(URL, {"training": "bogus"})
    assert response.status_code == 400
    assert "Choose trainable, excluded, or one exclusion reason." in response.content.decode()


def test_the_api_filters_by_training_and_returns_the_eligibility_fields(
    api_client: Client, calls: dict[str, Call]
) -> None:
    response = api_client.get(API_URL, {"training": "truncated"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["client_id"] for item in items] == ["cut"]
    assert {k: items[0][k] for k in ("trainable", "exclusion_reason", "duplicate_of", "pii_counts")} == {
        "trainable": False,
        "exclusion_reason": "truncated",
        "duplicate_of": None,
        "pii_counts": {},
    }


def test_the_api_gives_the_original_of_a_duplicate(api_client: Client, calls: dict[str, Call]) -> None:
    items = api_client.get(API_URL, {"training": "duplicate"}).json()["items"]
    assert [(i["client_id"], i["duplicate_of"]) for i in items] == [("copy", str(calls["normal"].id))]
    trainable = api_client.get(API_URL, {"training": "yes"}).json()["items"]
    assert [(i["client_id"], i["trainable"], i["exclusion_reason"]) for i in trainable] == [("normal", True, "")]


def test_the_api_counts_pii_per_call(api_client: Client, project: Project) -> None:
    calls_ingest(project=project, batch=Batch(records=[(0, ask("mail", "Reply to ann.lee@example.com"))]))
    item = api_client.get(API_URL).json()["items"][0]
    assert item["pii_counts"] == {"EMAIL_ADDRESS": 1} and item["preview"] == "Reply to <EMAIL_ADDRESS>"


def test_the_api_refuses_an_unknown_training_value(api_client: Client, calls: dict[str, Call]) -> None:
    response = api_client.get(API_URL, {"training": "bogus"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "training"
