"""POST /api/v1/calls against a hostile client: every request ends in a clear answer, and the valid
calls of a batch are stored whatever their neighbours hold."""

import gzip
import importlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from apps.calls import services
from apps.calls.models import Call
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/api/v1/calls"


def post(client: Client, calls: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post(URL, orjson.dumps({"calls": calls}), content_type="application/json", **extra)


def stored(project: Project) -> set[str | None]:
    return set(Call.objects.filter(project=project).values_list("client_id", flat=True))


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("where", ["id", "agent", "workload", "trace_id", "model", "finish_reason"])
def test_a_nul_in_a_text_field_rejects_that_call_naming_the_field(
    api_client: Client, project: Project, where: str
) -> None:
    bad = make_call(id="bad")
    field = {"model": "request.model", "finish_reason": "response.finish_reason"}.get(where, where)
    if where == "model":
        bad["request"]["model"] = "gpt-\x004o"
    elif where == "finish_reason":
        bad["response"]["finish_reason"] = "st\x00op"
    else:
        bad[where] = "bad\x00" if where == "id" else "x\x00y"
    response = post(api_client, [make_call(id="ok"), bad])
    assert response.status_code == 207
    rejected = response.json()["rejected"]
    assert [r["index"] for r in rejected] == [1]
    assert rejected[0]["errors"] == [{"field": field, "message": "must not contain a NUL character (\\u0000)"}]
    assert stored(project) == {"ok"}


def test_a_nul_in_message_content_or_metadata_is_dropped_and_the_call_stored(
    api_client: Client, project: Project
) -> None:
    call = make_call(id="nul", metadata={"note\x00": "a\x00b"})
    call["request"]["messages"][1]["content"] = "My card\x00 was charged twice."
    response = post(api_client, [call, make_call(id="ok")])
    assert response.status_code == 200 and response.json()["accepted"] == 2
    row = Call.objects.get(project=project, client_id="nul")
    assert row.request["messages"][1]["content"] == "My card was charged twice."
    assert row.metadata == {"note": "ab"}


@pytest.mark.parametrize("field", ["metadata", "error", "labels"])
def test_a_field_nested_too_deep_rejects_that_call_naming_the_field(
    api_client: Client, project: Project, settings: Any, field: str
) -> None:
    calls = [make_call(id="ok"), make_call(id="deep", **{field: nested(300)})]
    body = json.dumps({"calls": calls})  # orjson will not write JSON nested past 255 levels
    response = api_client.post(URL, body, content_type="application/json")
    assert response.status_code == 207
    rejected = response.json()["rejected"]
    assert [(r["index"], r["id"]) for r in rejected] == [(1, "deep")]
    assert rejected[0]["errors"] == [
        {"field": field, "message": f"is nested more than {settings.INGEST_MAX_DEPTH} levels deep"}
    ]
    assert stored(project) == {"ok"}


def test_ndjson_in_two_concatenated_gzip_members_is_read_whole(api_client: Client, project: Project) -> None:
    body = gzip.compress(orjson.dumps(make_call(id="m1")) + b"\n") + gzip.compress(orjson.dumps(make_call(id="m2")))
    response = api_client.post(URL, body, content_type="application/x-ndjson", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert stored(project) == {"m1", "m2"}


def test_a_truncated_gzip_body_is_refused_whole(api_client: Client, project: Project) -> None:
    lines = b"\n".join(orjson.dumps(make_call(id=f"t{i}")) for i in range(10))
    body = gzip.compress(lines)
    response = api_client.post(
        URL, body[: len(body) // 2], content_type="application/x-ndjson", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "body" and error["message"].startswith("The gzip body is truncated")
    assert stored(project) == set()


def post_chunked(client: Client, body: bytes) -> Any:
    """As gunicorn hands Django a chunked request: no Content-Length, the de-chunked body in wsgi.input."""
    extra = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}
    return client.generic("POST", URL, b"x", content_type="application/json", **extra)


def test_a_chunked_body_is_read(api_client: Client, project: Project) -> None:
    response = post_chunked(api_client, orjson.dumps({"calls": [make_call(id="c1"), make_call(id="c2")]}))
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2
    assert stored(project) == {"c1", "c2"}


def test_a_chunked_body_over_the_limit_is_413(api_client: Client, project: Project, settings: Any) -> None:
    settings.INGEST_MAX_BYTES = 2048
    response = post_chunked(api_client, orjson.dumps({"calls": [make_call(id=f"c{i}") for i in range(20)]}))
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"
    assert stored(project) == set()


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59Z"])
def test_a_timestamp_out_of_range_rejects_that_call(api_client: Client, project: Project, value: str) -> None:
    response = post(api_client, [make_call(id="ok"), make_call(id="odd", timestamp=value)])
    assert response.status_code == 207
    rejected = response.json()["rejected"]
    assert [(r["index"], r["id"]) for r in rejected] == [(1, "odd")]
    assert rejected[0]["errors"][0]["field"] == "timestamp"
    assert "must be between 2000-01-01 and" in rejected[0]["errors"][0]["message"]
    assert stored(project) == {"ok"}


@pytest.mark.parametrize(
    "at", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)], ids=["min", "max"]
)
def test_pages_survive_a_stored_timestamp_at_the_edge_of_time(
    api_client: Client, login: Callable[[User], Client], viewer: User, project: Project, at: datetime
) -> None:
    assert post(api_client, [make_call(id="ok"), make_call(id="edge")]).status_code == 200
    Call.objects.filter(project=project, client_id="edge").update(timestamp=at)
    listed = api_client.get(URL)
    assert listed.status_code == 200
    assert {item["client_id"] for item in listed.json()["items"]} == {"ok", "edge"}
    browser = login(viewer)
    for page in ("/p/acme/", "/p/acme/calls/", "/p/acme/curation/"):
        assert browser.get(page).status_code == 200, page


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00-21:00", "2026-01-01T00:00:00+18:01"])
def test_a_since_with_an_impossible_offset_is_422(api_client: Client, value: str) -> None:
    response = api_client.get(URL, {"since": value})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "since", "message": "UTC offsets range from -18:00 to +18:00"}]


def test_a_timestamp_python_cannot_read_is_repaired_by_the_migration(
    api_client: Client, login: Callable[[User], Client], viewer: User, project: Project
) -> None:
    repair = importlib.import_module("apps.calls.migrations.0009_call_timestamp_readable").REPAIR_SQL
    assert post(api_client, [make_call(id="ok"), make_call(id="bc")]).status_code == 200
    with connection.cursor() as cursor:  # as stored before ingestion bounded timestamps
        cursor.execute("UPDATE calls_call SET timestamp = '0001-01-01 00:00:00+14' WHERE client_id = 'bc'")
        cursor.execute(repair)
    row = Call.objects.get(project=project, client_id="bc")
    assert row.timestamp == row.received_at
    assert api_client.get(URL).status_code == 200
    assert login(viewer).get("/p/acme/").status_code == 200


def test_the_upload_path_rejects_the_same_records_and_keeps_the_rest(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    records = [
        make_call(id="u0"),
        make_call(id="u1", agent="a\x00b"),
        make_call(id="u2", timestamp="9999-12-31T23:59:59-14:00"),
        make_call(id="u3"),
    ]
    lines = [json.dumps(r).encode() for r in records] + [json.dumps(make_call(id="u4", metadata=nested(300))).encode()]
    path.write_bytes(b"\n".join(lines))
    result = services.calls_import_file(project=project, path=path)
    assert (result.accepted, result.rejected_count) == (2, 3)
    assert [(r["id"], r["errors"][0]["field"]) for r in result.rejected] == [
        ("u1", "agent"),
        ("u2", "timestamp"),
        ("u4", "metadata"),
    ]
    assert stored(project) == {"u0", "u3"}
