"""Tool calls agree as multisets of (function, arguments), arguments read as the tool's schema types them."""

import json
from typing import Any

import pytest

from apps.evaluation.scoring.tool_calls import parse_tool_calls, score_tool_calls, summarise_tool_calls

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "metric": {"type": "boolean"},
                    "code": {"type": "string"},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
        },
    },
]


def call(name: str, arguments: Any, *, as_text: bool = True, call_id: str = "call_1") -> dict[str, Any]:
    given = json.dumps(arguments) if as_text and not isinstance(arguments, str) else arguments
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": given}}


def test_argument_order_and_text_or_object_arguments_do_not_count() -> None:
    reference = [call("get_weather", {"city": "Paris", "days": 3})]
    output = [call("get_weather", {"days": 3, "city": "Paris"}, as_text=False, call_id="other")]

    score = score_tool_calls(reference, output, tools=TOOLS)

    assert score.agree, score.reason
    assert score.details["names_correct"] == score.details["arguments_correct"] == 1


def test_number_and_boolean_forms_are_read_as_the_schema_types_them() -> None:
    reference = [call("get_weather", {"city": "Paris", "days": 3, "metric": True})]
    output = [call("get_weather", {"city": "Paris", "days": "3.0", "metric": "TRUE"})]

    with_schema = score_tool_calls(reference, output, tools=TOOLS)
    without_schema = score_tool_calls(reference, output)

    assert with_schema.agree, with_schema.reason
    assert with_schema.details["arguments_valid"] == 0  # "3.0" is not an integer as sent
    assert without_schema.details["failures"] == [
        "wrong argument get_weather.days",
        "wrong argument get_weather.metric",
    ]


def test_a_string_parameter_keeps_its_string() -> None:
    reference = [call("get_weather", {"city": "Paris", "code": "007"})]
    output = [call("get_weather", {"city": "Paris", "code": 7})]
    assert not score_tool_calls(reference, output, tools=TOOLS).agree


def test_one_and_one_point_zero_are_the_same_number_without_a_schema() -> None:
    assert score_tool_calls([call("f", {"x": 1})], [call("f", {"x": 1.0})]).agree
    assert not score_tool_calls([call("f", {"x": True})], [call("f", {"x": 1})]).agree


def test_permuted_parallel_calls_agree() -> None:
    reference = [
        call("get_weather", {"city": "Paris"}),
        call("get_weather", {"city": "Rome"}),
        call("get_time", {"zone": "CET"}),
    ]
    output = [reference[2], reference[1], reference[0]]
    assert score_tool_calls(reference, output, tools=TOOLS).agree


def test_parallel_calls_are_a_multiset_not_a_set() -> None:
    paris = call("get_weather", {"city": "Paris"})

    score = score_tool_calls([paris, paris], [paris], tools=TOOLS)

    assert not score.agree and score.details["failures"] == ["missing call get_weather"]
    assert (score.details["names_correct"], score.details["names_total"]) == (1, 2)


def test_a_wrong_argument_in_one_of_parallel_calls_is_paired_with_its_closest_call() -> None:
    reference = [call("get_weather", {"city": "Paris", "days": 1}), call("get_weather", {"city": "Rome", "days": 2})]
    output = [call("get_weather", {"city": "Rome", "days": 5}), call("get_weather", {"city": "Paris", "days": 1})]

    score = score_tool_calls(reference, output, tools=TOOLS)

    assert score.details["failures"] == ["wrong argument get_weather.days"]
    assert (score.details["argument_pairs"], score.details["arguments_correct"]) == (2, 1)


def test_equal_calls_are_paired_before_close_ones() -> None:
    reference = [call("f", {"a": 1, "b": 1, "c": 1}), call("f", {"a": 1, "b": 1, "c": 2})]
    output = [call("f", {"a": 1, "b": 1, "c": 3}), call("f", {"a": 1, "b": 1, "c": 1})]

    score = score_tool_calls(reference, output)

    assert score.details["failures"] == ["wrong argument f.c"]
    assert (score.details["argument_pairs"], score.details["arguments_correct"]) == (2, 1)


def test_a_wrong_function_is_named_both_ways() -> None:
    score = score_tool_calls([call("get_weather", {"city": "Paris"})], [call("get_time", {"zone": "CET"})], tools=TOOLS)
    assert score.details["failures"] == ["wrong function get_weather->get_time"]
    assert score.details["names_correct"] == 0


def test_no_call_agrees_with_no_call() -> None:
    text_answer = {"role": "assistant", "content": "It is sunny.", "tool_calls": None}
    score = score_tool_calls(text_answer, {"role": "assistant", "content": "Sunny!"}, tools=TOOLS)
    assert score.agree
    assert summarise_tool_calls([score])["no_call_accuracy"] == 1.0


def test_a_call_where_the_reference_made_none_is_unexpected() -> None:
    score = score_tool_calls([], [call("get_time", {"zone": "CET"})], tools=TOOLS)
    assert not score.agree and score.details["failures"] == ["unexpected call get_time"]
    assert summarise_tool_calls([score])["no_call_accuracy"] == 0.0


def test_no_call_where_the_reference_made_one_is_missing() -> None:
    score = score_tool_calls([call("get_time", {"zone": "CET"})], None, tools=TOOLS)
    assert not score.agree and score.details["failures"] == ["missing call get_time"]


def test_arguments_that_are_not_json_are_invalid() -> None:
    score = score_tool_calls([call("get_time", {"zone": "CET"})], [call("get_time", '{"zone": "CET"')], tools=TOOLS)
    assert score.details["failures"] == ["invalid arguments get_time"]
    assert (score.details["arguments_checked"], score.details["arguments_valid"]) == (1, 0)


def test_arguments_that_break_the_schema_are_invalid_too() -> None:
    reference = [call("get_weather", {"city": "Paris"})]
    output = [call("get_weather", {"city": "Paris", "country": "FR"})]

    score = score_tool_calls(reference, output, tools=TOOLS)

    assert score.details["failures"] == ["wrong argument get_weather.country", "invalid arguments get_weather"]


def test_without_tools_no_schema_is_checked() -> None:
    score = score_tool_calls([call("f", {})], [call("f", {})])
    assert score.agree and score.details["arguments_checked"] == 0


def test_calls_are_read_from_a_message_a_list_or_json_text() -> None:
    calls = [call("get_time", {"zone": "CET"}), call("f", "")]
    expected = [("get_time", {"zone": "CET"}), ("f", {})]
    for given in (calls, {"role": "assistant", "tool_calls": calls}, json.dumps(calls)):
        assert [(c.name, c.arguments) for c in parse_tool_calls(given)] == expected
    assert parse_tool_calls([call("f", "[1, 2]")])[0].arguments is None


@pytest.mark.parametrize(
    ("reference", "output", "agrees"),
    [
        ([], [], True),
        (None, [], True),
        ([call("f", {"a": [1, {"b": 2}]})], [call("f", {"a": [1.0, {"b": 2.0}]})], True),
        ([call("f", {"a": [1, 2]})], [call("f", {"a": [2, 1]})], False),
    ],
)
def test_agreement_cases(reference: Any, output: Any, agrees: bool) -> None:
    assert score_tool_calls(reference, output).agree is agrees


def test_summary_adds_up_calls() -> None:
    scores = [
        score_tool_calls(
            [call("get_weather", {"city": "Paris"})], [call("get_weather", {"city": "Rome"})], tools=TOOLS
        ),
        score_tool_calls([call("get_weather", {"city": "Paris"})], [call("get_time", {"zone": "CET"})], tools=TOOLS),
        score_tool_calls([call("get_time", {"zone": "CET"})], [call("get_time", {"zone": "CET"})], tools=TOOLS),
        score_tool_calls([], [], tools=TOOLS),
    ]

    summary = summarise_tool_calls(scores)

    assert summary["function_name_accuracy"] == pytest.approx(2 / 3)
    assert summary["argument_accuracy"] == pytest.approx(1 / 2)
    assert summary["no_call_accuracy"] == 1.0
    assert summary["arguments_valid_rate"] == 1.0
    assert summary["exact_match"] == 0.5
