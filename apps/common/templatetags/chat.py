"""Reading OpenAI chat.completions payloads in templates: content parts, tool calls, request parameters.

A call can be megabytes (one pasted document, a long tool result), so the page shows at most a
screenful of each part: a text's first TEXT_CHARS characters (`clip`), a JSON value shortened to about
JSON_CHARS characters (`json_preview`), and the first and last turns of a long conversation (`turns`).
What is left out is counted on the page, next to a link to the call's raw JSON. Nothing here reads
more of a value than it shows, so a page costs the same for a 5 MB call as for a 50 KB one.
"""

import json
from dataclasses import dataclass
from typing import Any

from django import template

register = template.Library()

# Request keys shown in their own sections of the call page, so left out of "Other parameters".
_SHOWN_ELSEWHERE = frozenset({"model", "messages", "tools"})
# Message keys the conversation view renders itself; anything else is listed as extra fields.
_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "function_call"})

TEXT_CHARS = 4_000  # a screenful of one text
JSON_CHARS = 4_000  # a screenful of one JSON value, indented
PARSE_CHARS = 200_000  # a longer JSON string is shown as it was sent, not parsed and indented
ITEMS = 50  # list items, object keys, content parts and tool calls shown of one value
TURNS_FIRST, TURNS_LAST = 10, 40  # the turns shown of a longer conversation
INLINE_IMAGE_CHARS = 200_000  # a larger inline image (a data: URL) is named, not shown


@dataclass(frozen=True)
class Clipped:
    """The start of a text, and how much was left out: `more` characters, or `cut` when uncounted."""

    text: str
    more: int = 0
    cut: bool = False


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class _Budget:
    def __init__(self, chars: int) -> None:
        self.chars = chars
        self.cut = False


def _shrink(value: Any, budget: _Budget, depth: int = 0) -> Any:
    """A copy of JSON-like data with long strings, long lists and objects and deep nesting cut, to
    about `budget.chars` characters (spent as the copy is made)."""
    budget.chars -= 8
    if isinstance(value, str):
        keep = max(min(TEXT_CHARS, budget.chars), 40)
        if len(value) <= keep:
            budget.chars -= len(value)
            return value
        budget.chars, budget.cut = budget.chars - keep, True
        return f"{value[:keep]}… ({len(value) - keep:,} more characters)"
    if not isinstance(value, dict | list) or not value:
        return value
    noun = "keys" if isinstance(value, dict) else "items"
    if depth >= 12:
        budget.cut = True
        return f"… ({len(value):,} {noun} not shown)"
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    out: list[tuple[Any, Any]] = []
    for i, (key, item) in enumerate(pairs):
        if i >= ITEMS or budget.chars <= 0:
            budget.cut = True
            out.append(("…", f"… {len(value) - i:,} more {noun}"))
            break
        out.append((str(key)[:200], _shrink(item, budget, depth + 1)))
    return dict(out) if isinstance(value, dict) else [item for _, item in out]


def preview(value: Any) -> Clipped:
    """JSON-like data indented, at most about JSON_CHARS characters; a JSON string is parsed first."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "[") and len(value) <= PARSE_CHARS:
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, str):
        return clip(value)
    budget = _Budget(JSON_CHARS)
    text = _json_text(_shrink(value, budget))
    if len(text) > JSON_CHARS * 2:
        return Clipped(text[: JSON_CHARS * 2], cut=True)
    return Clipped(text, cut=budget.cut)


@register.filter
def clip(text: Any, limit: int = TEXT_CHARS) -> Clipped:
    """A text's first `limit` characters (a screenful) and how many more there are."""
    text = text if isinstance(text, str) else "" if text is None else str(text)
    if len(text) <= limit:
        return Clipped(text)
    return Clipped(text[:limit], more=len(text) - limit, cut=True)


@register.filter
def shorten(text: Any, limit: int = 200) -> str:
    """A short field (a name, an id, a role) cut to `limit` characters, with an ellipsis."""
    text = text if isinstance(text, str) else "" if text is None else str(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@register.filter
def json_preview(value: Any) -> Clipped:
    return preview(value)


@register.filter
def turns(messages: Any) -> list[dict[str, Any]]:
    """The turns to show: all of a short conversation; of a long one the first TURNS_FIRST and the last
    TURNS_LAST, with {"gap": n} for the n between them. Each turn is {"index" (from 1), "message"}."""
    if not isinstance(messages, list):
        return []

    def numbered(start: int, stop: int) -> list[dict[str, Any]]:
        return [{"index": i + 1, "message": messages[i]} for i in range(start, stop)]

    if len(messages) <= TURNS_FIRST + TURNS_LAST:
        return numbered(0, len(messages))
    last = len(messages) - TURNS_LAST
    return [*numbered(0, TURNS_FIRST), {"gap": last - TURNS_FIRST}, *numbered(last, len(messages))]


@register.filter
def content_parts(content: Any) -> list[dict[str, Any]]:
    """A message's content as a list of parts: {"kind": "text" | "image" | "other", ...}."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"kind": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return [{"kind": "other", "type": type(content).__name__, "json": preview(content)}]
    parts: list[dict[str, Any]] = []
    for part in content[:ITEMS]:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "output_text") and isinstance(part.get("text"), str):
            parts.append({"kind": "text", "text": part["text"]})
        elif kind in ("image_url", "input_image") and isinstance(part, dict):
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else image
            url = url if isinstance(url, str) else ""
            inline = url.startswith("data:image/")
            shown = inline and len(url) <= INLINE_IMAGE_CHARS
            parts.append(
                {
                    "kind": "image",
                    "url": url if shown else shorten(url, 120),
                    "inline": shown,
                    "hidden": inline and not shown,
                }
            )
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"kind": "refusal", "text": part["refusal"]})
        else:
            parts.append({"kind": "other", "type": shorten(kind or "part", 40), "json": preview(part)})
    if len(content) > ITEMS:
        parts.append({"kind": "more", "count": len(content) - ITEMS})
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
    for item in raw[:ITEMS] if isinstance(raw, list) else []:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            continue
        calls.append(
            {
                "id": shorten(item.get("id") or ""),
                "name": shorten(function.get("name") or "(unnamed)"),
                "arguments": format_arguments(function.get("arguments")),
            }
        )
    return calls


@register.filter
def format_arguments(arguments: Any) -> Clipped:
    """Tool-call arguments indented (a screenful); a string that is not JSON is shown as it was sent."""
    if arguments is None or arguments == "":
        return Clipped("{}")
    return preview(arguments)


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
    return shorten(name) if isinstance(name, str) else "(unnamed)"


@register.filter
def tool_description(tool: Any) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    text = function.get("description") if isinstance(function, dict) else None
    return shorten(text, TEXT_CHARS) if isinstance(text, str) else ""


@register.filter
def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@register.filter
def maybe_json(text: Any) -> Clipped:
    """A tool result that is a JSON object or array, indented; any other text as it is (a screenful)."""
    return preview(text)


@register.filter
def tool_parameters(tool: Any) -> Any:
    """The JSON schema of a tool's arguments (its name and description are shown above it)."""
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or "parameters" not in function:
        return tool
    extra = {k: v for k, v in function.items() if k not in ("name", "description", "parameters")}
    return {"parameters": function["parameters"], **extra} if extra else function["parameters"]
