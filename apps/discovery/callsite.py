"""A request's call site: the place in an agent's code a call comes from, read from the request alone.

The fingerprint is the sha256 of what one call site repeats on every call:
- the system and developer prompts, read as apps.discovery.texts reads them (the first MESSAGE_CHARS
  characters) and normalised: dates, times, ids, numbers, e-mails, URLs and redaction tags become
  placeholders, so one template with variable parts is one call site;
- the tools offered (legacy `functions` too): each tool's type, name and parameter schema as canonical
  JSON (keys sorted, and the `required` and `enum` lists sorted), the set of them sorted, so neither the
  order of the tools nor of the keys matters;
- the tool_choice (and legacy function_call);
- the response_format: its type and, for json_schema, the schema (canonical JSON).

It ignores the user and assistant turns, tool results, the model, sampling parameters and the answer:
the answer does not exist when a request arrives, and the model is what the gateway swaps.
Tool descriptions are ignored too (wording edits do not make a new call site).

Known failure cases:
- two tasks that share one system prompt, tools and response format and differ only in the user turn
  (a generic "You are a helpful assistant" site) are one call site: the router sees several tasks on it
  and lets the embedding decide (apps.discovery.routing);
- a variable part normalise does not recognise (a customer's name, a product list pasted into the
  system prompt) makes one call site per value: each is new at first and goes to the embedding;
- PII redacted in the stored prompt but not in the live request reads differently; normalise maps the
  redaction tags only, so PII planted in a system prompt splits a call site;
- a system prompt whose differences lie past MESSAGE_CHARS characters reads as one call site.

Pure: no Django, no torch; the gateway computes it on every request.
"""

import hashlib
import json
from typing import Any

from apps.discovery.texts import system_text

_SET_KEYS = frozenset({"required", "enum"})


def _canonical(value: Any) -> Any:
    """Lists whose order means nothing (`required`, `enum`) sorted, at any depth."""
    if isinstance(value, dict):
        return {
            str(k): sorted((_canonical(v) for v in value[k]), key=_dumps)
            if k in _SET_KEYS and isinstance(value[k], list)
            else _canonical(value[k])
            for k in value
        }
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _tool(tool: Any) -> str:
    if not isinstance(tool, dict):
        return _dumps(tool)
    inner = tool.get("function")
    function: dict[str, Any] = inner if isinstance(inner, dict) else tool
    return _dumps(
        {
            "type": tool.get("type", "function"),
            "name": function.get("name"),
            "parameters": _canonical(function.get("parameters")),
        }
    )


def _response_format(fmt: Any) -> Any:
    if not isinstance(fmt, dict):
        return fmt
    return {"type": fmt.get("type"), "json_schema": _canonical(fmt.get("json_schema"))}


def call_site(request: dict[str, Any]) -> str:
    """The fingerprint (sha256 hex) of the call site a chat.completions request comes from."""
    messages = request.get("messages")
    tools = [t for key in ("tools", "functions") if isinstance(request.get(key), list) for t in request[key]]
    site = {
        "system": system_text([m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []),
        "tools": sorted(_tool(t) for t in tools),
        "tool_choice": _canonical(request.get("tool_choice", request.get("function_call"))),
        "response_format": _response_format(request.get("response_format")),
    }
    return hashlib.sha256(_dumps(site).encode()).hexdigest()
