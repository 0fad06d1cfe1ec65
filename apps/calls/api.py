from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.calls import selectors, services
from apps.calls.ingest import decompress, parse_body
from apps.calls.schemas import CallFilterIn, CallOut, CallPageOut, IngestOut
from apps.common.errors import TooLarge
from apps.common.schemas import ErrorOut
from apps.projects.auth import ProjectApiKey, require_scope

router = Router(tags=["calls"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut}
_CALL_SCHEMA = {
    "type": "object",
    "required": ["request", "response"],
    "properties": {
        "id": {"type": "string", "description": "Your id for the call; a repeat is a duplicate, never stored twice"},
        "agent": {"type": "string"},
        "workload": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time", "description": "ISO 8601 or Unix seconds"},
        "request": {
            "type": "object",
            "description": "The OpenAI chat.completions request: model, messages, tools, ...",
        },
        "response": {"type": "object", "description": "The assistant message, or the whole ChatCompletion"},
        "latency_ms": {"type": "number"},
        "ttft_ms": {"type": "number"},
        "usage": {
            "type": "object",
            "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}},
        },
        "status": {"type": "string", "enum": ["ok", "error"]},
        "error": {"type": "string"},
        "trace_id": {"type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9._:/-]*$"},
        "span_id": {"type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9._:/-]*$"},
        "parent_span_id": {"type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9._:/-]*$"},
        "metadata": {"type": "object"},
    },
}


def _read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, at most `limit` bytes. A chunked body has no Content-Length, so Django reads it as empty:
    it is read from the WSGI stream (gunicorn passes it through de-chunked) up to the limit."""
    too_big = TooLarge(f"The body is over the limit of {limit} bytes; send smaller batches", field="body")
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if chunked and not request.META.get("CONTENT_LENGTH"):
        stream = request.META["wsgi.input"]
        body = bytearray()
        while len(body) <= limit:
            chunk = stream.read(min(64 * 1024, limit + 1 - len(body)))
            if not chunk:
                return bytes(body)
            body += chunk
        raise too_big
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit:
        raise too_big
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise too_big from exc


@router.post(
    "/calls",
    response={200: IngestOut, 207: IngestOut, **_ERRORS},
    summary="Log a batch of calls",
    description=(
        'Send `{"calls": [...]}` as JSON, or one call per line as `application/x-ndjson`; gzip bodies with '
        "`Content-Encoding: gzip`. Each record is checked on its own: valid ones are stored, invalid ones are "
        "listed in `rejected` with the fields at fault (status 207). Retrying a batch is safe."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["calls"],
                        "additionalProperties": False,
                        "properties": {"calls": {"type": "array", "items": _CALL_SCHEMA}},
                    }
                },
                "application/x-ndjson": {"schema": {"type": "string", "description": "One call object per line"}},
            },
        }
    },
)
def create_calls(request: HttpRequest) -> Status[dict[str, Any]]:
    key = require_scope(request, "ingest")
    limit = settings.INGEST_MAX_BYTES
    body = _read_body(request, limit)
    body = decompress(body, request.headers.get("Content-Encoding", ""), max_bytes=limit)
    batch = parse_body(body, request.content_type or "", max_calls=settings.INGEST_MAX_CALLS)
    result = services.calls_ingest(project=key.project, batch=batch, refuse_over_budget=True)
    payload = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "ignored_fields": sorted(result.ignored_fields),
    }
    return Status(207 if result.rejected_count else 200, payload)


@router.get("/calls", response={200: CallPageOut, **_ERRORS}, summary="List calls, newest first")
def list_calls(request: HttpRequest, filters: Query[CallFilterIn]) -> dict[str, Any]:
    key = require_scope(request, "read")
    page = selectors.call_list(
        project=key.project,
        filters=selectors.CallFilters(
            agent=filters.agent,
            model=filters.model,
            workload=filters.workload,
            status=filters.status,
            training=filters.training,
            since=filters.since,
            until=filters.until,
            cluster=filters.cluster,
        ),
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/calls/{call_id}", response={200: CallOut, 404: ErrorOut, **_ERRORS}, summary="Get one call")
def get_call(request: HttpRequest, call_id: str) -> Any:
    key = require_scope(request, "read")
    return selectors.call_get(project=key.project, call_id=call_id)
