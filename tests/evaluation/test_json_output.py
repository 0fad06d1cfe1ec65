"""JSON answers: tolerant parsing, agreement by value, schema validity, field counts and failure groups."""

from typing import Any

import pytest

from apps.evaluation.scoring import jsonvalues
from apps.evaluation.scoring.json_output import parse_json, score_json

SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string", "enum": ["Rate", "Play"]}, "stars": {"type": "integer"}},
    "required": ["intent", "stars"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '  {"a": 1}\n',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```',
        'Here is the result:\n```JSON\n{"a": 1}\n```\nHope this helps.',
        'Sure! {"a": 1} Let me know if you need more.',
        '```json\n{"a": 1}',  # a fence left open
    ],
)
def test_json_is_found_in_fences_and_prose(text: str) -> None:
    assert parse_json(text) == (True, {"a": 1})


def test_a_fenced_scalar_is_found() -> None:
    assert parse_json('```json\n"spam"\n```') == (True, "spam")
    assert parse_json("The answer:\n```\n42\n```") == (True, 42)


def test_in_prose_the_longest_value_wins() -> None:
    assert parse_json('See [1]: {"a": {"b": [2]}} and {"c": 3}') == (True, {"a": {"b": [2]}})
    assert parse_json('Items: [{"a": 1}, {"a": 2}].') == (True, [{"a": 1}, {"a": 2}])


@pytest.mark.parametrize("text", ["", "no json here", "{'a': 1}", '{"a": NaN}', "{a: 1}", 'Sure! {"a": 1'])
def test_invalid_json_does_not_parse(text: str) -> None:
    assert parse_json(text) == (False, None)


def test_key_order_and_number_forms_do_not_count() -> None:
    score = score_json('{"a": 1, "b": {"x": 2.0, "y": [1, 2]}}', '{"b": {"y": [1.0, 2], "x": 2}, "a": 1.0}')
    assert score.agree, score.reason
    assert score.details["field_tp"] == score.details["field_reference"] == score.details["field_output"] == 4


def test_true_is_not_one_and_strings_are_exact() -> None:
    assert not score_json('{"a": true}', '{"a": 1}').agree
    assert not score_json('{"a": "Paris"}', '{"a": "paris"}').agree
    assert not score_json('{"a": "1"}', '{"a": 1}').agree


def test_a_fenced_output_agrees_but_is_not_strict() -> None:
    score = score_json('{"a": 1}', '```json\n{"a": 1}\n```')
    assert score.agree and score.details["parsed"] and not score.details["strict"]
    assert score_json('{"a": 1}', '{"a": 1}').details["strict"]


def test_invalid_json_is_its_own_failure() -> None:
    score = score_json('{"a": 1, "b": 2}', '{"a": 1, "b": ')
    assert not score.agree
    assert score.details["failures"] == ["invalid JSON"]
    assert (score.details["parsed"], score.details["field_tp"], score.details["field_reference"]) == (False, 0, 2)


def test_failures_name_missing_extra_and_wrong_keys_by_generalised_path() -> None:
    reference = {"intent": "Rate", "slots": {"city": "Paris"}, "items": [{"price": 3}, {"price": 4}]}
    output = {"intent": "Rate", "slots": {"town": "Paris"}, "items": [{"price": 3}, {"price": 5}]}

    score = score_json(reference, output)

    assert score.details["failures"] == [
        "missing key slots.city",
        "wrong value at items[].price",
        "extra key slots.town",
    ]
    assert score.reason == "missing key slots.city (+2 more)"
    # fields: intent, slots.city|town, items[0].price, items[1].price -> 2 right of 4 on each side
    assert (score.details["field_tp"], score.details["field_output"], score.details["field_reference"]) == (2, 4, 4)


def test_list_order_counts() -> None:
    assert not score_json('{"tags": ["a", "b"]}', '{"tags": ["b", "a"]}').agree


def test_a_key_with_a_dot_is_told_apart_from_a_nested_key() -> None:
    score = score_json('{"a.b": 1}', '{"a": {"b": 1}}')
    assert not score.agree and score.details["failures"] == ["wrong value at $"]


def test_schema_validity_against_the_requests_schema() -> None:
    valid = score_json('{"intent": "Rate", "stars": 2}', '{"intent": "Play", "stars": 2}', json_schema=SCHEMA)
    invalid = score_json('{"intent": "Rate", "stars": 2}', '{"intent": "Rate", "stars": "2"}', json_schema=SCHEMA)

    assert valid.details["schema_valid"] and not valid.agree
    assert not invalid.details["schema_valid"] and invalid.details["schema_errors"]


def test_without_a_schema_validity_is_the_references_keys() -> None:
    assert score_json('{"a": 1, "b": 2}', '{"b": 9, "a": 8}').details["schema_valid"]
    assert not score_json('{"a": 1, "b": 2}', '{"a": 1}').details["schema_valid"]
    assert not score_json('{"a": 1}', "[1]").details["schema_valid"]


@pytest.mark.parametrize(
    ("output", "valid"),
    [
        ({"intent": "Rate", "stars": 2.0}, True),
        ({"intent": "Rate", "stars": 2.5}, False),
        ({"intent": "Rate", "stars": True}, False),
        ({"intent": "Stop", "stars": 2}, False),
        ({"intent": "Rate"}, False),
        ({"intent": "Rate", "stars": 2, "extra": 1}, False),
    ],
)
def test_without_jsonschema_a_subset_of_the_schema_is_checked(
    monkeypatch: pytest.MonkeyPatch, output: dict[str, Any], valid: bool
) -> None:
    monkeypatch.setattr(jsonvalues, "jsonschema", None)
    assert (jsonvalues.schema_errors(output, SCHEMA) == []) is valid
    assert score_json({"intent": "Rate", "stars": 2}, output, json_schema=SCHEMA).details["schema_valid"] is valid


def test_an_invalid_schema_falls_back_to_the_references_keys() -> None:
    score = score_json('{"a": 1}', '{"a": 2}', json_schema={"type": 12})
    assert score.details["schema_valid"] is True and score.details["schema_errors"] == []


def test_a_reference_that_is_not_json_agrees_only_with_the_same_text() -> None:
    assert score_json("not json", "not   json").agree
    different = score_json("not json", '{"a": 1}')
    assert not different.agree and different.details == {
        "failures": ["reference is not JSON"],
        "parsed": True,
        "strict": True,
        "scored": False,
    }
