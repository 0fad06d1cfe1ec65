"""PII never reaches storage: planted values, through every ingest path, are absent from the stored rows
(the rows are read back with SQL, not through the API)."""

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from apps.calls import services
from apps.calls.models import Call
from apps.projects.models import Project
from tests.conftest import SAMPLE_PATH, make_call, make_leaky_call

PLANTED = ("ann.lee@example.com", "555-0199", "hunter2", "Lindqvist", "GB82 WEST", "555-0117", "4111 1111 1111 1111",
           "sk-proj-abcdefghijklmnopqrstuvwx")  # fmt: skip


def stored_text(project: Project) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(request::text || response::text || metadata::text || preview || error, ' ')"
            " FROM calls_call WHERE project_id = %s",
            [project.id],
        )
        return cursor.fetchone()[0] or ""


def assert_nothing_planted_is_stored(project: Project) -> None:
    text = stored_text(project)
    assert text, "no calls were stored"
    leaked = [value for value in PLANTED if value in text]
    assert leaked == []


def test_rest_json(api_client: Client, project: Project) -> None:
    response = api_client.post(
        "/api/v1/calls", orjson.dumps({"calls": [make_leaky_call("a")]}), content_type="application/json"
    )
    assert response.status_code == 200
    assert_nothing_planted_is_stored(project)
    call = Call.objects.get(project=project)
    assert call.pii_counts["EMAIL_ADDRESS"] == 2 and call.pii_counts["SECRET"] == 2 and call.pii_counts["PERSON"] == 1
    assert json.loads(call.response["tool_calls"][0]["function"]["arguments"]) == {"iban": "<IBAN_CODE>"}
    assert (
        json.loads(call.request["messages"][3]["tool_calls"][0]["function"]["arguments"])["email"] == "<EMAIL_ADDRESS>"
    )


def test_rest_ndjson(api_client: Client, project: Project) -> None:
    response = api_client.post("/api/v1/calls", orjson.dumps(make_leaky_call("n")), content_type="application/x-ndjson")
    assert response.status_code == 200
    assert_nothing_planted_is_stored(project)


def test_browser_upload_job(project: Project) -> None:
    job = services.import_job_create(
        project=project,
        upload=io.BytesIO(orjson.dumps(make_leaky_call("u")) + b"\n"),
        filename="calls.jsonl",
        created_by=None,
    )
    services.import_job_run(job_id=str(job.id))
    assert_nothing_planted_is_stored(project)


def test_import_calls_command(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(orjson.dumps(make_leaky_call("c")) + b"\n")
    call_command("import_calls", str(path), project=project.slug, stdout=io.StringIO(), stderr=io.StringIO())
    assert_nothing_planted_is_stored(project)


def test_the_preview_shows_the_redacted_text(api_client: Client, project: Project) -> None:
    api_client.post("/api/v1/calls", orjson.dumps({"calls": [make_leaky_call("p")]}), content_type="application/json")
    assert Call.objects.get(project=project).preview == "Invite <EMAIL_ADDRESS>, card <CREDIT_CARD>"


def test_clean_calls_are_stored_as_sent(api_client: Client, project: Project) -> None:
    record = make_call(id="clean")
    api_client.post("/api/v1/calls", orjson.dumps({"calls": [record]}), content_type="application/json")
    call = Call.objects.get(project=project)
    assert call.request == record["request"] and call.pii_counts == {}


# Names as people write them, in every field a call has; each is planted with a distinctive part that must
# not reach storage.
NAMED = {
    "Gonzalez": "Please refund Maria Gonzalez for order 5521, she was charged twice.",
    "Okonkwo": "Dear Mr. Okonkwo, your claim has been approved.",
    "Okafor": "Customer J. R. Okafor called about the invoice.",
    "Hoffmann": "Contact: Dr. Anneliese Hoffmann-Weber",
    "Lindqvist": "Escalated by Lindqvist, Samuel on Monday.",
    "Bergstr": "Send the contract to Anna-Lena Bergström at Volvo Cars.",
    "SMITH": "JOHN SMITH called twice about the refund",
    "robyn chen": "Recipient: robyn chen.",
    "WOWRA": "Name on card: OLAF WOWRA\nOrder: VK418631",
    "E.K.": "It should still go to the old address. - E.K.",
    "Noor": "Thanks for the help.\n\nCheers,\nNoor",
}


def named_call(call_id: str) -> dict[str, Any]:
    arguments = {"customer_name": "priya raman", "last_name": "O'Connor", "city": "Aarhus"}
    request = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Answer the customer."},
            *({"role": "user", "content": text} for text in NAMED.values()),
            {"role": "user", "content": [{"type": "text", "text": "I moved from Rotterdam, ask for Ms. Tanaka."}]},
            {
                "role": "assistant",
                "tool_calls": [{"id": "t", "function": {"name": "find", "arguments": json.dumps(arguments)}}],
            },
            {"role": "tool", "tool_call_id": "t", "content": json.dumps({"assignee": "Wei Zhang"})},
        ],
    }
    return make_call(
        id=call_id,
        request=request,
        response={"role": "assistant", "content": "I have booked it under the name of Giulia Rossi."},
        metadata={"customer": "Henrik Sørensen"},
    )


NAMED_PLANTED = (*NAMED, "priya", "raman", "O'Connor", "Aarhus", "Rotterdam", "Tanaka", "Zhang", "Rossi", "Sørensen")


@pytest.mark.parametrize("path", ["rest", "import"])
def test_names_in_every_form_and_field_are_not_stored(
    api_client: Client, project: Project, tmp_path: Path, path: str
) -> None:
    if path == "rest":
        response = api_client.post(
            "/api/v1/calls", orjson.dumps({"calls": [named_call("names")]}), content_type="application/json"
        )
        assert response.status_code == 200
    else:
        (tmp_path / "calls.jsonl").write_bytes(orjson.dumps(named_call("names")) + b"\n")
        call_command("import_calls", str(tmp_path / "calls.jsonl"), project=project.slug, stdout=io.StringIO())
    text = stored_text(project)
    assert text and [name for name in NAMED_PLANTED if name in text] == []
    counts = Call.objects.get(project=project).pii_counts
    assert counts["PERSON"] + counts.get("LOCATION", 0) >= 20


def test_no_planted_email_or_card_of_the_sample_is_stored(
    project: Project, make_project: Callable[..., Project]
) -> None:
    services.calls_import_file(project=project, path=SAMPLE_PATH)
    with connection.cursor() as cursor:
        cursor.execute(
            r"SELECT count(*) FROM calls_call WHERE project_id = %s"
            r" AND (request::text ~ '[A-Za-z0-9._%%+-]+@[A-Za-z0-9-]+\.[A-Za-z.]+'"
            r" OR request::text ~ '\m4[0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}\M')",
            [project.id],
        )
        assert cursor.fetchone()[0] == 0
    assert Call.objects.filter(project=project).exclude(pii_counts={}).count() >= 150
