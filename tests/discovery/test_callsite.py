"""A request's call site, read from the request alone: the same for every call of one template, different
where the tools or the response format differ."""

import copy
from collections import defaultdict
from typing import Any

from apps.discovery.callsite import call_site

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather at a place.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_table",
            "parameters": {"type": "object", "properties": {"size": {"type": "integer"}}},
        },
    },
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "ticket", "schema": {"type": "object", "properties": {"category": {"type": "string"}}}},
}


def _request(system: str = "You are the triage bot. Today is 2024-06-11.", user: str = "Hi", **extra: Any) -> dict:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        **extra,
    }


def test_dates_ids_and_numbers_in_the_system_prompt_do_not_make_a_new_call_site() -> None:
    a = _request("Today is 2024-06-11 09:30. Session 3f2c1a9e-6b7d-4c1e-9a2b-0c4d5e6f7a8b, 12 open tickets.")
    b = _request("Today is 2025-01-02 17:05. Session 9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, 7 open tickets.")

    assert call_site(a) == call_site(b)
    assert call_site(a) != call_site(_request("Today is 2024-06-11. Answer in French."))


def test_the_user_turn_the_model_and_the_answer_do_not_count() -> None:
    a = _request(user="Where is my order?", tools=TOOLS)
    b = _request(user="Cancel my subscription please", tools=TOOLS, temperature=0.2)
    b["model"] = "gpt-4o-mini"
    b["messages"] += [{"role": "assistant", "content": "Sure."}, {"role": "user", "content": "Now."}]

    assert call_site(a) == call_site(b)
    assert len(call_site(a)) == 64 and int(call_site(a), 16) >= 0


def test_tools_tool_choice_and_response_format_each_make_another_call_site() -> None:
    base = call_site(_request(tools=TOOLS))
    fewer = call_site(_request(tools=TOOLS[:1]))
    other_schema = copy.deepcopy(TOOLS)
    other_schema[0]["function"]["parameters"]["properties"]["city"]["type"] = "integer"
    forced = call_site(_request(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "book_table"}}))

    assert len({base, fewer, call_site(_request(tools=other_schema)), forced, call_site(_request())}) == 5
    json_object = call_site(_request(response_format={"type": "json_object"}))
    with_schema = call_site(_request(response_format=SCHEMA))
    other = copy.deepcopy(SCHEMA)
    other["json_schema"]["schema"]["properties"]["priority"] = {"type": "integer"}
    assert len({json_object, with_schema, call_site(_request(response_format=other)), call_site(_request())}) == 4


def test_the_order_of_tools_of_json_keys_and_of_required_names_does_not_count() -> None:
    shuffled = copy.deepcopy(TOOLS[::-1])
    weather = shuffled[1]["function"]
    weather["parameters"] = {
        "required": ["unit", "city"],
        "properties": {"unit": {"enum": ["f", "c"], "type": "string"}, "city": {"type": "string"}},
        "type": "object",
    }
    shuffled[1] = {"function": {"parameters": weather["parameters"], "name": "get_weather"}, "type": "function"}
    reordered = {"json_schema": {"schema": SCHEMA["json_schema"]["schema"], "name": "ticket"}, "type": "json_schema"}

    assert call_site(_request(tools=shuffled, response_format=reordered)) == call_site(
        _request(tools=TOOLS, response_format=SCHEMA)
    )


def test_tool_descriptions_are_ignored_and_legacy_functions_count_as_tools() -> None:
    reworded = copy.deepcopy(TOOLS)
    reworded[0]["function"]["description"] = "The forecast for a city."

    assert call_site(_request(tools=reworded)) == call_site(_request(tools=TOOLS))
    assert call_site(_request(functions=[t["function"] for t in TOOLS])) == call_site(_request(tools=TOOLS))


def test_malformed_requests_still_have_a_call_site() -> None:
    odd = {"messages": "not a list", "tools": [None, "x"], "response_format": "json"}

    assert call_site(odd) == call_site(dict(odd))
    assert call_site({}) != call_site(odd)
    assert call_site({"tools": "get_weather", "functions": {"name": "f"}}) == call_site({})


def test_no_call_site_of_the_sample_carries_two_tasks(sample_records: list[dict[str, Any]]) -> None:
    tasks = defaultdict(set)
    for record in sample_records:
        tasks[call_site(record["request"])].add(record["task"])

    # one call site per task, but function calling: one per set of tools offered (72 of them)
    assert all(len(found) == 1 for found in tasks.values())
    assert len(tasks) == 79
    assert {next(iter(t)) for t in tasks.values()} == {r["task"] for r in sample_records}
