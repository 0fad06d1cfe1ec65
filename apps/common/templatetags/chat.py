"""Reading OpenAI chat.completions payloads in templates: content parts, tool calls, request parameters."""

import json
from typing import Any

from django import template

register = template.Library()

# Request keys shown in their own sections of the call page, so left out of "Other parameters".
_SHOWN_ELSEWHERE = frozenset({"model", "messages", "tools"})
# Message keys the conversation view renders itself; anything else is listed as extra fields.
_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "function_call"})


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def content_parts(content: Any) -> list[dict[str, Any]]:
    """A message's content as a list of parts: {"kind": "text" | "image" | "other", ...}."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"kind": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return [{"kind": "other", "type": type(content).__name__, "json": _json_text(content)}]
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "output_text") and isinstance(part.get("text"), str):
            parts.append({"kind": "text", "text": part["text"]})
        elif kind in ("image_url", "input_image") and isinstance(part, dict):
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else image
            url = url if isinstance(url, str) else ""
            parts.append({"kind": "image", "url": url, "inline": url.startswith("data:image/")})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"kind": "refusal", "text": part["refusal"]})
        else:
            parts.append({"kind": "other", "type": kind or "part", "json": _json_text(part)})
    return parts


@register.filter
def tool_calls(message: Any) -> list[dict[str, Any]]:
    """An assistant message's tool calls (and a legacy function_call) as {"id", "name", "arguments"}."""
    if not isinstance(message, dict):
        return []
    raw = message.get("tool_calls") or []
    if isinstance(message.get("function_call"), dict):
        raw = [*raw, {"function": message["function_call"]}] if isinstance(raw, list) else raw
    calls = []
    for item in raw if isinstance(raw, list) else []:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            continue
        calls.append(
            {
                "id": item.get("id") or "",
                "name": function.get("name") or "(unnamed)",
                "arguments": format_arguments(function.get("arguments")),
            }
        )
    return calls


@register.filter
def format_arguments(arguments: Any) -> str:
    """Tool-call arguments pretty-printed; a string that is not JSON is shown as it was sent."""
    if arguments is None or arguments == "":
        return "{}"
    if isinstance(arguments, str):
        try:
            return _json_text(json.loads(arguments))
        except ValueError:
            return arguments
    return _json_text(arguments)


@register.filter
def extra_fields(message: Any) -> dict[str, Any]:
    """Message keys the conversation view does not render on its own (refusal, reasoning, audio...)."""
    if not isinstance(message, dict):
        return {}
    return {k: v for k, v in message.items() if k not in _MESSAGE_KEYS and v not in (None, "", [], {})}


@register.filter
def request_params(request: Any) -> dict[str, Any]:
    """The request's parameters other than model, messages and tools (temperature, response_format...)."""
    if not isinstance(request, dict):
        return {}
    return {k: v for k, v in request.items() if k not in _SHOWN_ELSEWHERE}


@register.filter
def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


@register.filter
def tool_name(tool: Any) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else "(unnamed)"


@register.filter
def tool_description(tool: Any) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    text = function.get("description") if isinstance(function, dict) else None
    return text if isinstance(text, str) else ""


@register.filter
def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@register.filter
def maybe_json(text: Any) -> str:
    """A tool result that is a JSON object or array, indented; any other text as it is."""
    if isinstance(text, str) and text.lstrip()[:1] in ("{", "["):
        try:
            return _json_text(json.loads(text))
        except ValueError:
            pass
    return text if isinstance(text, str) else _json_text(text)


@register.filter
def tool_parameters(tool: Any) -> Any:
    """The JSON schema of a tool's arguments (its name and description are shown above it)."""
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or "parameters" not in function:
        return tool
    extra = {k: v for k, v in function.items() if k not in ("name", "description", "parameters")}
    return {"parameters": function["parameters"], **extra} if extra else function["parameters"]
