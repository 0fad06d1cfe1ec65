"""Parse and validate logged calls: pure functions, no database, shared by every ingest path.

A record is {"id", "agent", "workload", "timestamp", "request", "response", "latency_ms",
"ttft_ms", "usage", "metadata", "status", "error", "trace_id", "span_id", "parent_span_id"};
only request and response are required. NVIDIA Data Flywheel records ("workload_id",
"client_id", "timestamp", "request", "response" with "choices") are accepted too.
"""

import gzip
import hashlib
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings

from apps.common.errors import DomainError, TooLarge
from apps.common.messages import content_text
from apps.curation.scanner import MAX_TEXT_CHARS, text_too_long

KNOWN_FIELDS = frozenset(
    {
        "id",
        "agent",
        "workload",
        "timestamp",
        "request",
        "response",
        "latency_ms",
        "ttft_ms",
        "usage",
        "metadata",
        "status",
        "error",
        "trace_id",
        "span_id",
        "parent_span_id",
        # NVIDIA Data Flywheel log records
        "workload_id",
        "client_id",
    }
)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
NUMERIC_PARAMS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
INTEGER_PARAMS = ("max_tokens", "max_completion_tokens", "n", "seed")
PREVIEW_CHARS = 240


@dataclass
class Batch:
    """A parsed request body: the records, plus lines that were not JSON at all."""

    records: list[tuple[int, Any]] = field(default_factory=list)
    broken: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CallRow:
    id: uuid.UUID
    dedupe_key: str
    client_id: str | None
    agent: str
    workload: str
    model: str
    timestamp: datetime
    request: dict[str, Any]
    response: dict[str, Any] | None
    finish_reason: str
    status: str
    error: str
    latency_ms: int | None
    ttft_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    trace_id: str
    span_id: str
    parent_span_id: str
    metadata: dict[str, Any]
    preview: str
    pii_counts: dict[str, int] = field(default_factory=dict)
    # Filled in by curation (apps.curation.services.curate_rows) before the row is written.
    pii_fields: dict[str, int] = field(default_factory=dict)
    curation_version: int = 0
    trainable: bool = True
    exclusion_reason: str = ""
    duplicate_of: uuid.UUID | None = None
    prompt_hash: str = ""
    minhash: list[int] | None = None
    near_keys: list[int] | None = None


class RecordErrors(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid record")
        self.errors = errors


def decompress(body: bytes, encoding: str, *, max_bytes: int) -> bytes:
    """The body, gunzipped when it is gzip: every member of a multi-member body is read, and a truncated one
    is refused whole (a 400), so no call of a cut-off batch is stored or silently dropped."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if body[:2] != b"\x1f\x8b":
            return body
        encoding = "gzip"
    if encoding not in ("gzip", "x-gzip"):
        raise DomainError(
            f"Unsupported Content-Encoding '{encoding}'; send gzip or plain", field="Content-Encoding", status=415
        )
    out = bytearray()
    rest = body
    while rest and rest.strip(b"\x00"):  # trailing NUL padding after the last member is allowed, as in gzip
        try:
            decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += decomp.decompress(rest, max_bytes + 1 - len(out))
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise DomainError(f"The body is not valid gzip: {exc}", field="body") from exc
        if len(out) > max_bytes:
            raise TooLarge(f"The uncompressed body is over the limit of {max_bytes} bytes", field="body")
        if not decomp.eof:
            raise DomainError(
                "The gzip body is truncated (it ends before the end of its data); nothing was stored", field="body"
            )
        rest = decomp.unused_data
    return bytes(out)


def parse_body(body: bytes, content_type: str, *, max_calls: int) -> Batch:
    """JSON {"calls": [...]} or NDJSON (one call per line); a broken NDJSON line is reported, not fatal."""
    media = (content_type or "").split(";")[0].strip().lower()
    batch = Batch()
    if media in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"):
        index = 0
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                batch.records.append((index, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                batch.broken.append(rejection(index, None, [{"field": "line", "message": f"not valid JSON: {exc}"}]))
            index += 1
            if index > max_calls:
                raise TooLarge(f"A request holds at most {max_calls} calls", field="calls")
        return batch
    if media not in ("application/json", ""):
        raise DomainError(
            f"Unsupported Content-Type '{media}'; send application/json or application/x-ndjson",
            field="Content-Type",
            status=415,
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DomainError(f"The body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("calls"), list):
        raise DomainError('The body must be an object {"calls": [...]}', field="calls")
    extra = sorted(set(payload) - {"calls"})
    if extra:
        raise DomainError(f"Unknown field '{extra[0]}' in the body; only 'calls' is allowed", field=extra[0])
    if len(payload["calls"]) > max_calls:
        raise TooLarge(f"A request holds at most {max_calls} calls, got {len(payload['calls'])}", field="calls")
    batch.records = list(enumerate(payload["calls"]))
    return batch


def rejection(index: int, client_id: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"index": index, "id": client_id if isinstance(client_id, str) else None, "errors": errors}


def _err(errors: list[dict[str, str]], name: str, message: str) -> None:
    errors.append({"field": name, "message": message})


NUL_MESSAGE = "must not contain a NUL character (\\u0000)"


def _has_nul(value: Any, name: str, errors: list[dict[str, str]]) -> bool:
    """Postgres text cannot hold NUL. A name, id or model with one is refused (rather than silently changed, as
    it is what the call is filed and deduplicated under); in message texts, metadata and errors NUL is dropped."""
    if isinstance(value, str) and "\x00" in value:
        _err(errors, name, NUL_MESSAGE)
        return True
    return False


def _short_str(raw: dict[str, Any], key: str, limit: int, errors: list[dict[str, str]], default: str = "") -> str:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        _err(errors, key, "must be a string")
        return default
    if len(value) > limit:
        _err(errors, key, f"must be at most {limit} characters")
        return default
    if _has_nul(value, key, errors):
        return default
    return value


# Trace and span ids are identifiers (W3C hex, Datadog decimal, UUIDs, "svc:1234"), never free text, so they
# are held to identifier characters rather than scanned for personal data: an e-mail or a name with spaces
# in one is refused, and a decimal id is never mistaken for a phone number and redacted (which would break
# the trace it links).
IDENTIFIER = re.compile(r"[A-Za-z0-9._:/-]+")
IDENTIFIER_MESSAGE = "must be an identifier: letters, digits and . _ : / - only (no spaces, '@' or other text)"


def _identifier(raw: dict[str, Any], key: str, limit: int, errors: list[dict[str, str]]) -> str:
    value = _short_str(raw, key, limit, errors)
    if value and not IDENTIFIER.fullmatch(value):
        _err(errors, key, IDENTIFIER_MESSAGE)
        return ""
    return value


def nested_too_deep(value: Any, limit: int) -> bool:
    """Whether JSON-like data nests objects and lists more than `limit` levels (iteratively: no recursion)."""
    stack: list[tuple[int, Any]] = [(1, value)]
    while stack:
        depth, item = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((depth + 1, child) for child in children)
    return False


def _check_timestamp_range(timestamp: datetime, now: datetime, errors: list[dict[str, str]]) -> None:
    """A time far off (year 1, year 9999) is a client bug, and would break date arithmetic in every report."""
    earliest = datetime(settings.INGEST_EARLIEST_YEAR, 1, 1, tzinfo=UTC)
    latest = now + timedelta(hours=settings.INGEST_MAX_FUTURE_HOURS)
    if not earliest <= timestamp <= latest:
        _err(errors, "timestamp", f"must be between {earliest:%Y-%m-%d} and {latest:%Y-%m-%d %H:%M} UTC")


def _count(value: Any, name: str, errors: list[dict[str, str]]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        _err(errors, name, "must be a non-negative number")
        return None
    if value > 2_000_000_000:
        _err(errors, name, "is too large")
        return None
    return round(value)


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (a naive one is UTC) or a Unix time in seconds or milliseconds."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string or a Unix time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("must be an ISO 8601 string or a Unix time")


def preview_of(request: dict[str, Any]) -> str:
    """The last user turn, whitespace collapsed and shortened, for lists."""
    text = ""
    for message in request.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "user":
            text = content_text(message.get("content"))
    return " ".join(text[: PREVIEW_CHARS * 4].split())[:PREVIEW_CHARS]


def _check_content(content: Any, name: str, errors: list[dict[str, str]]) -> None:
    if content is None or isinstance(content, str):
        return
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                _err(errors, f"{name}[{j}]", "a content part must be an object with a 'type'")
        return
    _err(errors, name, "must be a string, a list of content parts, or null")


def _check_tool_calls(tool_calls: Any, name: str, errors: list[dict[str, str]]) -> None:
    if tool_calls is None:
        return
    if not isinstance(tool_calls, list):
        _err(errors, name, "must be a list")
        return
    for j, tc in enumerate(tool_calls):
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            _err(errors, f"{name}[{j}].function.name", "a tool call needs a function name")
        elif not isinstance(fn.get("arguments", ""), str | dict):
            _err(errors, f"{name}[{j}].function.arguments", "must be a JSON string")


def _check_request(request: Any, errors: list[dict[str, str]]) -> str:
    """Validate the chat.completions request; returns the model."""
    if not isinstance(request, dict):
        _err(errors, "request", "is required and must be an object (the chat.completions request)")
        return ""
    model = request.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        _err(errors, "request.model", "is required: the model name the agent asked for")
        model = ""
    elif _has_nul(model, "request.model", errors):
        model = ""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        _err(errors, "request.messages", "is required and must be a non-empty list")
    else:
        for i, message in enumerate(messages):
            where = f"request.messages[{i}]"
            if not isinstance(message, dict):
                _err(errors, where, "must be an object")
                continue
            role = message.get("role")
            if role not in ROLES:
                _err(errors, f"{where}.role", f"must be one of {', '.join(sorted(ROLES))}")
            _check_content(message.get("content"), f"{where}.content", errors)
            if "tool_calls" in message:
                _check_tool_calls(message["tool_calls"], f"{where}.tool_calls", errors)
    tools = request.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            _err(errors, "request.tools", "must be a list")
        else:
            for i, tool in enumerate(tools):
                fn = tool.get("function") if isinstance(tool, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    _err(errors, f"request.tools[{i}].function.name", "a tool needs a function with a name")
    if "response_format" in request and not isinstance(request["response_format"], dict | type(None)):
        _err(errors, "request.response_format", "must be an object")
    for name in NUMERIC_PARAMS:
        value = request.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            _err(errors, f"request.{name}", "must be a number")
    for name in INTEGER_PARAMS:
        value = request.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            _err(errors, f"request.{name}", "must be an integer")
    return model


def _normalise_response(
    response: Any, errors: list[dict[str, str]]
) -> tuple[dict[str, Any] | None, str, dict[str, Any]]:
    """Returns (assistant message, finish_reason, extras from a full ChatCompletion)."""
    if response is None:
        return None, "", {}
    if not isinstance(response, dict):
        _err(errors, "response", "must be an object: the assistant message or the ChatCompletion")
        return None, "", {}
    extras: dict[str, Any] = {}
    if "choices" in response:
        choices = response["choices"]
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            _err(errors, "response.choices", "must be a non-empty list of choices")
            return None, "", {}
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            _err(errors, "response.choices[0].message", "must be an object")
            return None, "", {}
        finish_reason = choice.get("finish_reason") or ""
        extras = {k: response[k] for k in ("id", "model", "usage") if k in response}
        where = "response.choices[0].message"
    else:
        message = response
        finish_reason = response.get("finish_reason") or ""
        where = "response"
    message = {k: v for k, v in message.items() if k != "finish_reason"}
    message.setdefault("role", "assistant")
    _check_content(message.get("content"), f"{where}.content", errors)
    _check_tool_calls(message.get("tool_calls"), f"{where}.tool_calls", errors)
    if not isinstance(finish_reason, str) or len(finish_reason) > 32:
        _err(errors, "response.finish_reason", "must be a short string")
        finish_reason = ""
    elif _has_nul(finish_reason, "response.finish_reason", errors):
        finish_reason = ""
    return message, finish_reason, extras


def _record_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()


def validate_record(raw: Any, *, now: datetime, ignored: set[str]) -> CallRow:
    """A CallRow, or RecordErrors naming every bad field. Unknown top-level fields are collected in `ignored`."""
    if not isinstance(raw, dict):
        raise RecordErrors([{"field": "call", "message": "must be a JSON object"}])
    errors: list[dict[str, str]] = []
    for key in raw:
        if key not in KNOWN_FIELDS:
            ignored.add(key)
    limit = settings.INGEST_MAX_DEPTH
    for name, value in raw.items():
        if nested_too_deep(value, limit):
            _err(errors, str(name), f"is nested more than {limit} levels deep")
    if errors:  # the checks below (and storage) walk the data recursively
        raise RecordErrors(errors)

    model = _check_request(raw.get("request"), errors)
    if "response" not in raw:
        _err(errors, "response", "is required: the assistant message or the ChatCompletion")
    message, finish_reason, extras = _normalise_response(raw.get("response"), errors)
    status = raw.get("status", "ok")
    if status not in ("ok", "error"):
        _err(errors, "status", "must be 'ok' or 'error'")
    error_text = raw.get("error") or ""
    if not isinstance(error_text, str):
        error_text = orjson.dumps(error_text).decode()
    if message is None and status == "ok" and "response" in raw:
        _err(errors, "response", "may be null only when status is 'error'")

    client_id = raw.get("id", extras.get("id"))
    if client_id is not None and (not isinstance(client_id, str) or not client_id or len(client_id) > 200):
        _err(errors, "id", "must be a non-empty string of at most 200 characters")
        client_id = None
    elif _has_nul(client_id, "id", errors):
        client_id = None
    agent = _short_str(raw, "agent", 200, errors) or _short_str(raw, "client_id", 200, errors)
    workload = _short_str(raw, "workload", 200, errors) or _short_str(raw, "workload_id", 200, errors)
    trace_id = _identifier(raw, "trace_id", 128, errors)
    span_id = _identifier(raw, "span_id", 128, errors)
    parent_span_id = _identifier(raw, "parent_span_id", 128, errors)

    timestamp = now
    if raw.get("timestamp") is not None:
        try:
            timestamp = parse_timestamp(raw["timestamp"])
        except (ValueError, OverflowError, OSError) as exc:
            _err(errors, "timestamp", str(exc) if "ISO" in str(exc) else f"is not a valid time: {exc}")
        else:
            _check_timestamp_range(timestamp, now, errors)

    usage = raw.get("usage", extras.get("usage"))
    prompt_tokens = completion_tokens = None
    if usage is not None:
        if not isinstance(usage, dict):
            _err(errors, "usage", "must be an object with prompt_tokens and completion_tokens")
        else:
            prompt_tokens = _count(usage.get("prompt_tokens"), "usage.prompt_tokens", errors)
            completion_tokens = _count(usage.get("completion_tokens"), "usage.completion_tokens", errors)
    latency_ms = _count(raw.get("latency_ms"), "latency_ms", errors)
    ttft_ms = _count(raw.get("ttft_ms"), "ttft_ms", errors)
    metadata = raw.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        _err(errors, "metadata", "must be an object")
    if not model and isinstance(extras.get("model"), str):
        model = extras["model"]
        errors[:] = [e for e in errors if e["field"] != "request.model"]
    for name in ("request", "response", "metadata", "error"):
        where = text_too_long(raw.get(name), name)
        if where is not None:
            _err(errors, where, f"is over {MAX_TEXT_CHARS:,} characters, the most scanned for personal data")

    if errors:
        raise RecordErrors(errors)
    return CallRow(
        id=uuid.uuid4(),
        dedupe_key=f"id:{client_id}" if client_id else f"sha256:{_record_hash(raw)}",
        client_id=client_id,
        agent=agent,
        workload=workload,
        model=model,
        timestamp=timestamp,
        request=raw["request"],
        response=message,
        finish_reason=finish_reason,
        status=status,
        error=error_text,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        metadata=metadata,
        preview=preview_of(raw["request"]),
    )
