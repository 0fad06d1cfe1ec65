"""Bounded cost per request: the text a call (and a request) gives the PII scanner is budgeted before any
analysis, a retried call costs a lookup rather than a re-scan, and the free-text names (agent, workload)
are scanned while trace ids are held to identifier characters."""

import itertools
from collections.abc import Iterator
from typing import Any
from unittest import mock

import orjson
import pytest
from django.test import Client

from apps.calls import services
from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.curation.scanner import PiiScanner
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/api/v1/calls"


def post(client: Client, calls: list[dict[str, Any]]) -> Any:
    return client.post(URL, orjson.dumps({"calls": calls}), content_type="application/json")


def dense_pii(chars: int) -> str:
    """Text as in the hardening report: an e-mail, a phone number and a card number every few words."""
    parts: Iterator[str] = itertools.cycle(
        ["write to jane.roe{}@example.com", "or call +1 415 555 {:04d}", "card 4111 1111 1111 1111 ref {}"]
    )
    out, size = [], 0
    for i, part in enumerate(parts):
        piece = part.format(i % 10_000) + " and then "
        out.append(piece)
        size += len(piece)
        if size >= chars:
            break
    return "".join(out)[:chars]


def with_text(call_id: str, text: str) -> dict[str, Any]:
    call = make_call(id=call_id)
    call["request"]["messages"].append({"role": "user", "content": text})
    return call


@pytest.fixture
def scans() -> Iterator[list[int]]:
    """How many calls each PiiScanner.redact_calls was handed (the real method runs)."""
    handed: list[int] = []
    original = PiiScanner.redact_calls

    def spy(self: PiiScanner, calls: Any) -> Any:
        handed.append(len(calls))
        return original(self, calls)

    with mock.patch.object(PiiScanner, "redact_calls", spy):
        yield handed


def test_one_huge_dense_message_is_refused_with_413_before_any_scan(
    api_client: Client, project: Project, scans: list[int]
) -> None:
    """The report's 5 MB message held a worker for 27 minutes; now it is refused at once, naming the limit."""
    response = post(api_client, [make_call(id="fine"), with_text("huge", dense_pii(5_000_000))])
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "too_large"
    assert "2,000,000" in body["message"] and "INGEST_MAX_CALL_TEXT_CHARS" in body["message"]
    assert "'huge'" in body["message"]
    assert body["errors"] == [{"field": "calls[1]", "message": body["message"]}]
    assert not Call.objects.filter(project=project).exists()
    assert scans == []  # nothing was analysed


def test_a_request_over_its_text_budget_is_413_and_names_that_limit(
    api_client: Client, project: Project, settings: Any, scans: list[int]
) -> None:
    settings.INGEST_MAX_REQUEST_TEXT_CHARS = 30_000
    calls = [with_text(f"c{i}", f"question {i} " + "word " * 2_000) for i in range(4)]  # ~10,000 chars each
    response = post(api_client, calls)
    assert response.status_code == 413
    assert "INGEST_MAX_REQUEST_TEXT_CHARS" in response.json()["message"]
    assert "30,000" in response.json()["message"]
    assert scans == [] and not Call.objects.filter(project=project).exists()
    # Split as the message says, the same calls are taken.
    assert post(api_client, calls[:2]).json()["accepted"] == 2
    assert post(api_client, calls[2:]).json()["accepted"] == 2


def test_a_text_repeated_across_calls_counts_once(api_client: Client, project: Project, settings: Any) -> None:
    """Agents send the same system prompt on every call; it is analysed once, so it is budgeted once."""
    settings.INGEST_MAX_REQUEST_TEXT_CHARS = 30_000
    prompt = "You are a support agent. " * 800  # 20,000 characters, on every call
    calls = [make_call(id=f"c{i}") for i in range(10)]
    for call in calls:
        call["request"]["messages"][0]["content"] = prompt
    response = post(api_client, calls)
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 10


def test_a_retried_batch_costs_a_lookup_not_a_rescan(api_client: Client, project: Project, scans: list[int]) -> None:
    calls = [make_call(id=f"c{i}") for i in range(5)]
    assert post(api_client, calls).json()["accepted"] == 5
    assert scans == [5]
    again = post(api_client, [*calls, make_call(id="new")]).json()
    assert (again["accepted"], again["duplicates"]) == (1, 5)
    assert scans == [5, 1]  # only the new call was scanned
    post(api_client, calls)
    assert scans == [5, 1]  # a retry of stored calls only: no scan at all
    assert Call.objects.filter(project=project).count() == 6


def test_a_repeat_within_a_batch_is_scanned_once_and_counted_a_duplicate(
    api_client: Client, project: Project, scans: list[int]
) -> None:
    body = post(api_client, [make_call(id="a"), make_call(id="a"), make_call(id="b")]).json()
    assert (body["accepted"], body["duplicates"]) == (2, 1)
    assert scans == [2]


def test_a_retry_of_a_stored_batch_is_not_charged_to_the_budget(
    api_client: Client, project: Project, settings: Any
) -> None:
    """The budget counts new text only, so retrying a batch that was stored (its answer lost) never fails."""
    calls = [with_text(f"c{i}", f"question {i} " + "word " * 2_000) for i in range(2)]
    assert post(api_client, calls).json()["accepted"] == 2
    settings.INGEST_MAX_REQUEST_TEXT_CHARS = 15_000
    response = post(api_client, [*calls, with_text("c2", "question 2 " + "word " * 2_000)])
    assert response.status_code == 200, response.json()
    assert (response.json()["accepted"], response.json()["duplicates"]) == (1, 2)


def test_an_upload_rejects_only_the_call_over_the_budget(project: Project, settings: Any) -> None:
    """Uploads and gateway captures have no client to answer 413 to: the call over is rejected on its own."""
    settings.INGEST_MAX_CALL_TEXT_CHARS = 10_000
    batch = Batch(records=list(enumerate([make_call(id="ok"), with_text("big", "word " * 3_000)])))
    result = services.calls_ingest(project=project, batch=batch)
    assert result.accepted == 1 and result.duplicates == 0
    [rejected] = result.rejected
    assert rejected["index"] == 1 and rejected["id"] == "big"
    assert "INGEST_MAX_CALL_TEXT_CHARS" in rejected["errors"][0]["message"]


@pytest.mark.parametrize("field", ["agent", "workload"])
def test_an_email_in_agent_or_workload_is_redacted(api_client: Client, project: Project, field: str) -> None:
    response = post(api_client, [make_call(id="c", **{field: "bot for jane.roe@example.com"})])
    assert response.json()["accepted"] == 1
    call = Call.objects.get(project=project)
    value = getattr(call, field)
    assert "jane.roe@example.com" not in value and value.startswith("bot for ")
    assert call.pii_fields.get(field) == 1


@pytest.mark.parametrize("field", ["trace_id", "span_id", "parent_span_id"])
@pytest.mark.parametrize("value", ["jane.roe@example.com", "Jane Roe", "+1 415 555 0134"])
def test_a_trace_id_that_is_not_an_identifier_rejects_that_call(
    api_client: Client, project: Project, field: str, value: str
) -> None:
    response = post(api_client, [make_call(id="ok"), make_call(id="bad", **{field: value})])
    assert response.status_code == 207
    [rejected] = response.json()["rejected"]
    assert rejected["id"] == "bad"
    assert rejected["errors"][0]["field"] == field
    assert "identifier" in rejected["errors"][0]["message"]
    assert set(Call.objects.filter(project=project).values_list("client_id", flat=True)) == {"ok"}


@pytest.mark.parametrize("value", ["4bf92f3577b34da6a3ce929d0e0e4736", "8448112298401230412", "svc:checkout/42"])
def test_real_trace_ids_are_kept_verbatim(api_client: Client, project: Project, value: str) -> None:
    assert post(api_client, [make_call(id="c", trace_id=value)]).json()["accepted"] == 1
    assert Call.objects.get(project=project).trace_id == value
