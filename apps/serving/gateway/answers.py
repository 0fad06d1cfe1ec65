"""Answers as the gateway handles them: a specialist's answer checked by its task's output kind (reusing
the evaluation's validators), a full ChatCompletion turned into the server-sent events a streaming client
expects, and a streamed answer put back together for the log. Pure functions, no I/O."""

import time
from typing import Any

import orjson

from apps.evaluation.scoring import request_json_schema
from apps.evaluation.scoring.json_output import parse_json
from apps.evaluation.scoring.jsonvalues import loads, schema_errors
from apps.evaluation.scoring.label import normalise_label
from apps.evaluation.scoring.sql import parse_sql, strip_fence
from apps.evaluation.scoring.tool_calls import parse_tool_calls, tool_schemas


def first_message(completion: Any) -> dict[str, Any] | None:
    """The assistant message of a ChatCompletion's first choice, or None when it is not one."""
    if not isinstance(completion, dict):
        return None
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    return message if isinstance(message, dict) else None


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _tool_choice_forces_a_call(request: dict[str, Any]) -> bool:
    choice = request.get("tool_choice")
    return choice == "required" or isinstance(choice, dict)


def invalid_reason(kind: str, request: dict[str, Any], message: dict[str, Any], *, labels: tuple[str, ...] = ()) -> str:
    """Why a specialist's answer cannot be returned to the agent ('' when it can), by the task's output kind:
    a label from the set, JSON that parses and fits the request's schema, tool calls whose names exist and
    whose arguments fit the tool's schema, SQL that parses; any other kind needs some text."""
    text = _text(message).strip()
    if kind == "label":
        if not text:
            return "empty label"
        allowed = {normalise_label(label) for label in labels}
        return "" if not allowed or normalise_label(text) in allowed else "label not in the task's label set"
    if kind == "json":
        try:
            value = loads(text)
        except ValueError:
            parsed, _ = parse_json(text)
            return "JSON inside other text" if parsed else "not JSON"
        schema = request_json_schema(request)
        errors = schema_errors(value, schema) if schema is not None else []
        return "JSON does not fit the schema" if errors else ""
    if kind == "tool_calls":
        calls = parse_tool_calls(message)
        if not calls:
            if _tool_choice_forces_a_call(request) or not text:
                return "no tool call"
            return ""
        schemas = tool_schemas(request.get("tools"))
        for call in calls:
            if call.name not in schemas:
                return "unknown tool"
            if call.arguments is None:
                return "tool arguments are not a JSON object"
            if schema_errors(call.arguments, schemas[call.name]):
                return "tool arguments do not fit the tool's schema"
        return ""
    if kind == "sql":
        return "" if text and parse_sql(strip_fence(text)) is not None else "SQL does not parse"
    return "" if text or message.get("tool_calls") else "empty answer"


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def completion_events(completion: dict[str, Any], *, include_usage: bool = False) -> list[bytes]:
    """A full ChatCompletion as chat.completion.chunk events ending with `data: [DONE]`, as OpenAI streams:
    the role, the content, each tool call whole, the finish reason, and the usage when asked for."""
    message = first_message(completion) or {}
    choice = (completion.get("choices") or [{}])[0]
    base = {
        "id": completion.get("id") or "chatcmpl-downshift",
        "object": "chat.completion.chunk",
        "created": completion.get("created") or int(time.time()),
        "model": completion.get("model") or "",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})

    events = [chunk({"role": "assistant", "content": ""})]
    if _text(message):
        events.append(chunk({"content": message["content"]}))
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.get("id") or f"call_{index}",
                            "type": "function",
                            "function": {"name": function.get("name", ""), "arguments": function.get("arguments", "")},
                        }
                    ]
                }
            )
        )
    events.append(chunk({}, choice.get("finish_reason") or ("tool_calls" if message.get("tool_calls") else "stop")))
    if include_usage and completion.get("usage"):
        events.append(_event({**base, "choices": [], "usage": completion["usage"]}))
    events.append(b"data: [DONE]\n\n")
    return events


def assemble_stream(raw: bytes) -> tuple[dict[str, Any] | None, str, dict[str, Any] | None]:
    """(the assistant message, finish reason, usage) of a streamed answer's bytes; message None when no
    chunk could be read."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason, usage, seen = "", None, False
    for line in raw.splitlines():
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            continue
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(chunk, dict):
            continue
        seen = True
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    int(call.get("index", 0)), {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            finish_reason = choice.get("finish_reason") or finish_reason
    if not seen:
        return None, "", None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) if content or not calls else None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish_reason, usage
