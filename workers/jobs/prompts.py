"""A logged chat.completions request as a local model's chat template takes it, the same way for training
and for evaluation (a specialist is asked exactly as it was taught), and the model's text read back as an
assistant message.

- Tools go through the chat template when it renders them; otherwise they are described in the system
  message with the answer format <tool_call>{"name": ..., "arguments": {...}}</tool_call>, and earlier
  tool calls in the conversation are written that way too.
- tool_choice "required" or a named function, and response_format (JSON object or JSON schema), become
  instructions in the system message.
- Few-shot examples (whole earlier calls with their answers) go between the system message and the call's
  own turns, as prior user / assistant turns.

Plain Python, no torch: the tokenizer is only asked for its template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apps.common.messages import content_text

TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True)
class TemplateSupport:
    """What a chat template renders: the tools offered, and assistant tool calls."""

    tools: bool
    tool_calls: bool


def template_support(tokenizer: Any) -> TemplateSupport:
    template = getattr(tokenizer, "chat_template", None) or ""
    text = template if isinstance(template, str) else json.dumps(template)
    return TemplateSupport(tools="tools" in text, tool_calls="tool_calls" in text)


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def normalise_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages as chat templates expect them: text content, tool-call arguments as objects,
    the developer role as system."""
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        m = dict(message)
        m["content"] = content_text(m.get("content"))
        if m.get("role") == "developer":
            m["role"] = "system"
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                call = dict(call)
                function = dict(call.get("function") or {})
                function["arguments"] = _arguments(function.get("arguments"))
                call["function"] = function
                calls.append(call)
            m["tool_calls"] = calls
        out.append(m)
    return out


def tool_call_text(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    body = {"name": function.get("name", ""), "arguments": _arguments(function.get("arguments")) or {}}
    return f"<tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>"


def _calls_as_text(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant turn's tool calls written into its text, for templates that do not render them."""
    if not message.get("tool_calls"):
        return message
    text = "\n".join([message.get("content") or "", *map(tool_call_text, message["tool_calls"])]).strip()
    return {k: v for k, v in message.items() if k != "tool_calls"} | {"content": text}


def _tools_instruction(tools: Sequence[dict[str, Any]]) -> str:
    listed = "\n".join(json.dumps(tool.get("function", tool), ensure_ascii=False) for tool in tools)
    return (
        "You can call these functions:\n"
        f"{listed}\n"
        'To call one, answer with <tool_call>{"name": <function name>, "arguments": <arguments object>}'
        "</tool_call>, one block per call."
    )


def _choice_instruction(tool_choice: Any) -> str:
    if tool_choice == "required":
        return "Answer by calling one or more of the functions."
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name:
            return f"Answer by calling the function {name}."
    return ""


def _format_instruction(response_format: Any) -> str:
    if not isinstance(response_format, dict):
        return ""
    kind = response_format.get("type")
    if kind == "json_object":
        return "Answer with a JSON object only."
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return f"Answer with a JSON object only, valid against this JSON schema:\n{json.dumps(schema)}"
        return "Answer with a JSON object only."
    return ""


def _split_system(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lead = 0
    while lead < len(messages) and messages[lead].get("role") == "system":
        lead += 1
    return messages[:lead], messages[lead:]


def chat_turns(
    messages: Sequence[dict[str, Any]],
    *,
    support: TemplateSupport,
    tools: Sequence[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    response_format: Any = None,
    examples: Sequence[Sequence[dict[str, Any]]] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) for apply_chat_template. `examples` are earlier conversations ending with the
    assistant's answer; their system messages are left out (the call's own system message leads)."""
    system, turns = _split_system(normalise_messages(messages))
    offered = list(tools or []) if tool_choice != "none" else []
    instructions = []
    if offered and not support.tools:
        instructions.append(_tools_instruction(offered))
    if offered:
        instructions.append(_choice_instruction(tool_choice))
    instructions.append(_format_instruction(response_format))
    extra = "\n\n".join(text for text in instructions if text)
    if extra:
        if system:
            last = system[-1]
            system[-1] = {**last, "content": f"{last['content']}\n\n{extra}".strip()}
        else:
            system = [{"role": "system", "content": extra}]
    shots = [m for example in examples for m in normalise_messages(example) if m.get("role") != "system"]
    ordered = [*system, *shots, *turns]
    if not support.tool_calls:
        ordered = [_calls_as_text(m) for m in ordered]
    return ordered, (offered if offered and support.tools else None)


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    """The text of the last user turn (what a classifier reads)."""
    users = [content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1].strip() if users else ""


# --- reading an answer back ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A local candidate's answer to one request, as the jobs report it."""

    index: int  # the request's position in the job's list
    message: dict[str, Any]  # the assistant message
    latency_ms: float  # the wall time of its batch: what its caller waited
    compute_ms: float  # its share of that time: what it cost the machine
    input_tokens: int | None
    output_tokens: int | None


def _as_calls(value: Any) -> list[dict[str, Any]]:
    """{"name", "arguments"} objects (also "parameters", a list of them, or {"tool_calls": [...]})."""
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    calls: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            return []
        function: dict[str, Any] = item["function"] if isinstance(item.get("function"), dict) else item
        name = function.get("name")
        arguments = function.get("arguments", function.get("parameters", {}))
        if not isinstance(name, str) or not name:
            return []
        arguments = _arguments(arguments)
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        calls.append({"id": f"call_{len(calls)}", "type": "function", "function": {"name": name, "arguments": text}})
    return calls


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def answer_message(text: str, *, tools_offered: bool) -> dict[str, Any]:
    """The model's text as an assistant message. When tools were offered, calls written as <tool_call>
    blocks (Hermes, Qwen, the instruction above) or as a bare JSON call become `tool_calls`."""
    text = text.strip()
    if tools_offered:
        blocks = TOOL_CALL.findall(text)
        calls = [call for block in blocks for call in _as_calls(_json(block.strip()))]
        if not blocks:
            calls = _as_calls(_json(text))
            if calls:
                return {"role": "assistant", "content": None, "tool_calls": calls}
        if calls:
            rest = TOOL_CALL.sub("", text).strip()
            return {"role": "assistant", "content": rest or None, "tool_calls": calls}
    return {"role": "assistant", "content": text}
