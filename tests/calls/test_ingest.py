"""Parsing and per-record validation, without the database."""

import gzip
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from apps.calls.ingest import RecordErrors, decompress, parse_body, validate_record
from apps.common.errors import DomainError, TooLarge
from tests.conftest import make_call

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fields_of(raw: Any) -> list[str]:
    with pytest.raises(RecordErrors) as info:
        validate_record(raw, now=NOW, ignored=set())
    return [e["field"] for e in info.value.errors]


def test_a_valid_record_keeps_request_response_usage_and_preview() -> None:
    row = validate_record(make_call(id="abc", workload="triage"), now=NOW, ignored=set())
    assert row.dedupe_key == "id:abc"
    assert row.model == "gpt-4o"
    assert row.workload == "triage"
    assert row.prompt_tokens == 1000 and row.completion_tokens == 100
    assert row.response == {"role": "assistant", "content": "billing"}
    assert row.preview == "My card was charged twice."
    assert row.timestamp == NOW


def test_a_record_without_id_is_keyed_by_its_content() -> None:
    record = make_call()
    del record["id"]
    first = validate_record(record, now=NOW, ignored=set())
    again = validate_record(dict(record), now=NOW, ignored=set())
    other = validate_record({**record, "latency_ms": 1}, now=NOW, ignored=set())
    assert first.dedupe_key.startswith("sha256:")
    assert first.dedupe_key == again.dedupe_key != other.dedupe_key


def test_request_and_response_are_required() -> None:
    assert fields_of({"id": "x"}) == ["request", "response"]


def test_every_bad_field_is_named() -> None:
    bad = make_call(latency_ms=-5, timestamp="yesterday", usage={"prompt_tokens": "many"}, status="meh", metadata=[])
    bad["request"]["messages"].append({"role": "robot", "content": 3})
    assert fields_of(bad) == [
        "request.messages[2].role",
        "request.messages[2].content",
        "status",
        "timestamp",
        "usage.prompt_tokens",
        "latency_ms",
        "metadata",
    ]


def test_model_and_messages_are_checked() -> None:
    assert fields_of(make_call(request={"messages": []})) == ["request.model", "request.messages"]


def test_tool_calls_need_a_function_name() -> None:
    record = make_call(response={"role": "assistant", "content": None, "tool_calls": [{"function": {}}]})
    assert fields_of(record) == ["response.tool_calls[0].function.name"]


def test_content_parts_are_accepted_and_give_the_preview() -> None:
    record = make_call()
    record["request"]["messages"][1]["content"] = [
        {"type": "text", "text": "What is in"},
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "text", "text": "this picture?"},
    ]
    row = validate_record(record, now=NOW, ignored=set())
    assert row.preview == "What is in this picture?"


def test_a_data_flywheel_record_is_accepted() -> None:
    record = {
        "timestamp": 1767225600,
        "workload_id": "tool_router",
        "client_id": "aiva-1",
        "request": {"model": "meta/llama-3.1-70b-instruct", "messages": [{"role": "user", "content": "hi"}]},
        "response": {
            "id": "chatcmpl-1",
            "model": "meta/llama-3.1-70b-instruct",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
    }
    row = validate_record(record, now=NOW, ignored=set())
    assert (row.agent, row.workload, row.client_id) == ("aiva-1", "tool_router", "chatcmpl-1")
    assert row.response == {"role": "assistant", "content": "hello"}
    assert row.finish_reason == "stop"
    assert (row.prompt_tokens, row.completion_tokens) == (5, 2)
    assert row.timestamp == datetime(2026, 1, 1, tzinfo=UTC)


def test_unknown_top_level_fields_are_reported_not_stored() -> None:
    ignored: set[str] = set()
    validate_record(make_call(task="label", source="x"), now=NOW, ignored=ignored)
    assert ignored == {"task", "source"}


def test_error_calls_may_have_no_response() -> None:
    row = validate_record(make_call(response=None, status="error", error="timeout"), now=NOW, ignored=set())
    assert row.status == "error" and row.response is None and row.error == "timeout"
    assert fields_of(make_call(response=None)) == ["response"]


def test_timestamps_in_iso_seconds_and_milliseconds() -> None:
    for value in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00", 1767225600, 1767225600000):
        assert validate_record(make_call(timestamp=value), now=NOW, ignored=set()).timestamp == NOW


def test_json_body_must_be_an_object_with_calls() -> None:
    with pytest.raises(DomainError) as info:
        parse_body(b"[1, 2]", "application/json", max_calls=10)
    assert info.value.field == "calls"
    with pytest.raises(DomainError) as info:
        parse_body(b'{"calls": [], "extra": 1}', "application/json", max_calls=10)
    assert info.value.field == "extra"


def test_ndjson_keeps_good_lines_and_names_the_broken_one() -> None:
    body = b"\n".join([orjson.dumps(make_call()), b"{oops", orjson.dumps(make_call())])
    batch = parse_body(body, "application/x-ndjson", max_calls=10)
    assert [i for i, _ in batch.records] == [0, 2]
    assert batch.broken[0]["index"] == 1 and batch.broken[0]["errors"][0]["field"] == "line"


def test_too_many_calls_is_too_large() -> None:
    with pytest.raises(TooLarge):
        parse_body(orjson.dumps({"calls": [{}] * 3}), "application/json", max_calls=2)
    with pytest.raises(TooLarge):
        parse_body(b"{}\n{}\n{}\n", "application/x-ndjson", max_calls=2)


def test_gzip_bodies_are_inflated_with_a_limit() -> None:
    body = orjson.dumps({"calls": []})
    assert decompress(gzip.compress(body), "gzip", max_bytes=100) == body
    assert decompress(gzip.compress(body), "", max_bytes=100) == body
    with pytest.raises(TooLarge):
        decompress(gzip.compress(b" " * 5000), "gzip", max_bytes=1000)
    with pytest.raises(DomainError) as info:
        decompress(b"not gzip", "gzip", max_bytes=100)
    assert info.value.field == "body"
    with pytest.raises(DomainError) as info:
        decompress(b"x", "br", max_bytes=100)
    assert info.value.status == 415


def test_every_sample_record_is_valid(sample_records: list[dict[str, Any]]) -> None:
    ignored: set[str] = set()
    rows = [validate_record(r, now=NOW, ignored=ignored) for r in sample_records]
    assert len({r.dedupe_key for r in rows}) == 3000
    assert ignored == {"task", "source"}
    assert sum(1 for r in rows if r.response and r.response.get("tool_calls")) == 375
