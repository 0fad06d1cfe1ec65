"""The entry point: one call scored by its output kind from logged messages, and one kind summarised."""

import json
from typing import Any

import numpy as np
import pytest

from apps.evaluation.scoring import agreement_values, resolve_kind, score, summarise
from apps.evaluation.scoring.stats import bootstrap_difference_interval

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
    },
}


def message(content: Any = None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": tool_calls}


def weather_call(days: Any) -> dict[str, Any]:
    arguments = json.dumps({"city": "Paris", "days": days})
    return {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def test_the_kinds_are_the_output_kinds_of_discovery() -> None:
    from apps.discovery.texts import OutputKind

    for kind in (OutputKind.LABEL, OutputKind.JSON, OutputKind.TOOL_CALLS, OutputKind.SQL, OutputKind.TEXT):
        assert resolve_kind(kind) == kind
    assert resolve_kind(OutputKind.CODE) == "text"
    with pytest.raises(ValueError, match="none"):
        resolve_kind(OutputKind.NONE)


def test_a_label_is_read_from_the_logged_message() -> None:
    assert score("label", {}, message("Positive"), message([{"type": "text", "text": "positive."}])).agree
    assert not score("label", {}, message("Positive"), "negative").agree


def test_tools_come_from_the_request_unless_given() -> None:
    request = {"messages": [], "tools": [WEATHER_TOOL]}
    reference, output = message(tool_calls=[weather_call(3)]), message(tool_calls=[weather_call("3")])

    assert score("tool_calls", request, reference, output).agree
    assert not score("tool_calls", request, reference, output, tools=[]).agree


def test_the_json_schema_comes_from_the_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    request = {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}

    valid = score("json", request, message('{"a": 1}'), '{"a": 2}')
    invalid = score("json", request, message('{"a": 1}'), '{"a": "2"}')
    given = score("json", request, message('{"a": 1}'), '{"a": "2"}', json_schema={"type": "object"})

    assert valid.details["schema_valid"] and not invalid.details["schema_valid"] and given.details["schema_valid"]


def test_sql_and_code_and_text_are_routed() -> None:
    assert score("sql", None, "select a from t x", "SELECT a FROM t").agree
    assert score("code", None, "return a + b", "return a + b").details["metric"] == "rouge_l"
    embed = lambda texts: np.array([[1.0, 0.0] if "yes" in t else [0.0, 1.0] for t in texts])  # noqa: E731
    assert score("text", None, "yes indeed", "yes", embed=embed).agree
    assert not score("text", None, "yes indeed", "no", embed=embed, threshold=0.1).agree


def test_summary_has_agreement_with_its_interval_and_failure_groups() -> None:
    pairs = [("spam", "spam")] * 8 + [("spam", "ham"), ("ham", "spam")]
    scores = [score("label", None, ref, out) for ref, out in pairs]

    summary = summarise("label", scores)

    assert (summary["calls"], summary["agreed"], summary["agreement"]) == (10, 8, 0.8)
    assert summary["agreement_low"] == pytest.approx(0.4902, abs=5e-4)
    assert summary["agreement_high"] == pytest.approx(0.9433, abs=5e-4)
    assert summary["failure_groups"] == [["wrong label ham->spam", 1], ["wrong label spam->ham", 1]]
    assert summary["accuracy"] == 0.8 and summary["confusion"]["spam"] == {"ham": 1, "spam": 8}


@pytest.mark.parametrize("kind", ["json", "tool_calls", "sql", "text"])
def test_every_kind_summarises(kind: str) -> None:
    answers = {"json": '{"a": 1}', "tool_calls": [weather_call(1)], "sql": "select 1", "text": "a b c"}
    scores = [score(kind, None, answers[kind], answers[kind])]

    summary = summarise(kind, scores)

    assert summary["agreement"] == 1.0 and summary["failure_groups"] == []
    assert json.loads(json.dumps([summary, scores[0].details]))  # storable on a row as it is


@pytest.mark.parametrize("kind", ["label", "json", "tool_calls", "sql", "text"])
def test_a_summary_of_no_calls_knows_nothing(kind: str) -> None:
    summary = summarise(kind, [])
    assert (summary["calls"], summary["agreement"], summary["agreement_low"], summary["agreement_high"]) == (
        0,
        None,
        0.0,
        1.0,
    )


def test_two_candidates_compared_on_the_same_calls() -> None:
    references = ["spam"] * 50
    first = [score("label", None, ref, "spam") for ref in references]
    second = [score("label", None, ref, "spam" if i % 2 else "ham") for i, ref in enumerate(references)]

    interval = bootstrap_difference_interval(agreement_values(first), agreement_values(second))

    assert interval.estimate == 0.5 and interval.low > 0
