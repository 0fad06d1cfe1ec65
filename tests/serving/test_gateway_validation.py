"""What the gateway accepts from a specialist before the agent sees it, by the task's output kind; anything
else is escalated to the LLM with this reason."""

import json
from typing import Any

import pytest

from apps.serving.gateway.answers import invalid_reason

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add_event",
            "parameters": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "hours": {"type": "number"}},
                "required": ["title"],
            },
        },
    }
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "route",
        "schema": {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"]},
    },
}


def said(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def called(name: str, arguments: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": args}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


@pytest.mark.parametrize(
    ("kind", "request_", "message", "reason"),
    [
        ("label", {}, said("Positive "), ""),
        ("label", {}, said("maybe"), "label not in the task's label set"),
        ("json", {"response_format": SCHEMA}, said('{"team": "billing"}'), ""),
        ("json", {"response_format": SCHEMA}, said('{"group": "billing"}'), "JSON does not fit the schema"),
        ("json", {}, said("Sure! {'team': billing"), "not JSON"),
        ("tool_calls", {"tools": TOOLS}, called("add_event", {"title": "Dentist", "hours": 1}), ""),
        ("tool_calls", {"tools": TOOLS}, called("delete_everything", {}), "unknown tool"),
        (
            "tool_calls",
            {"tools": TOOLS},
            called("add_event", {"hours": 1}),
            "tool arguments do not fit the tool's schema",
        ),
        ("tool_calls", {"tools": TOOLS}, called("add_event", "{not json"), "tool arguments are not a JSON object"),
        ("tool_calls", {"tools": TOOLS, "tool_choice": "required"}, said("I can't"), "no tool call"),
        ("tool_calls", {"tools": TOOLS}, said("Which day?"), ""),  # declining to call a tool is an answer
        ("sql", {}, said("SELECT name FROM students WHERE id = 3"), ""),
        ("sql", {}, said("SELEC name FROM WHERE"), "SQL does not parse"),
        ("text", {}, said(""), "empty answer"),
    ],
)
def test_an_answer_is_checked_by_the_tasks_output_kind(
    kind: str, request_: dict[str, Any], message: dict[str, Any], reason: str
) -> None:
    assert invalid_reason(kind, request_, message, labels=("positive", "negative")) == reason
