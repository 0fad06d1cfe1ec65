"""The scanner with the default NER model: what the model reads (not system prompts), each distinct string
once per batch, JSON keys as context, fields named like a person's name, and the pattern-only choice."""

import json
from typing import Any

import pytest

from apps.curation.scanner import CallTexts, PiiScanner, PolicySpec, Tally


@pytest.fixture
def scanner() -> PiiScanner:
    return PiiScanner()


@pytest.fixture
def read(scanner: PiiScanner, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch of pieces the NER model is given."""
    batches: list[list[str]] = []
    assert scanner.ner is not None
    spans = scanner.ner.spans

    def spy(pieces: Any) -> Any:
        batches.append(list(pieces))
        return spans(pieces)

    monkeypatch.setattr(scanner.ner, "spans", spy)
    return batches


def call(user: str, *, system: str = "Answer the customer.", response: str = "Done.") -> CallTexts:
    return CallTexts(
        request={
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        },
        response={"role": "assistant", "content": response},
        metadata={},
    )


def user_text(redacted: Any) -> str:
    return str(redacted.request["messages"][1]["content"])


def test_a_batch_is_read_in_one_go_and_each_distinct_string_once(scanner: PiiScanner, read: list[list[str]]) -> None:
    calls = [call("Please refund Maria Gonzalez."), call("Please refund Maria Gonzalez."), call("Dear Mr. Okonkwo,")]
    done = scanner.redact_calls(calls)

    assert [user_text(d) for d in done] == ["Please refund <PERSON>.", "Please refund <PERSON>.", "Dear Mr. <PERSON>,"]
    assert [d.tally.types["PERSON"] for d in done] == [1, 1, 1]
    # "Done." holds no capitalised word but the first, no known name and no cue word: it is not read
    assert len(read) == 1 and sorted(read[0]) == ["Dear Mr. Okonkwo,", "Please refund Maria Gonzalez."]
    scanner.redact_calls(calls)
    assert len(read) == 1  # all cached


def test_system_prompts_are_not_read_by_the_model_but_by_the_patterns(
    scanner: PiiScanner, read: list[list[str]]
) -> None:
    system = "Reply in French to customers in Lisbon. Sign as Samuel Lindqvist, jane@example.com."
    [done] = scanner.redact_calls([call("We moved to Lisbon.", system=system)])

    assert (
        done.request["messages"][0]["content"]
        == "Reply in French to customers in Lisbon. Sign as <PERSON>, <EMAIL_ADDRESS>."
    )
    assert user_text(done) == "We moved to <LOCATION>."
    assert all(system not in piece for batch in read for piece in batch)


def test_the_same_text_is_a_template_in_one_place_and_read_in_another(scanner: PiiScanner) -> None:
    text = "Please greet Tanaka warmly."
    [done] = scanner.redact_calls([call(text, system=text)])
    assert done.request["messages"][0]["content"] == text
    assert user_text(done) == "Please greet <PERSON> warmly."


def test_names_in_tool_calls_results_metadata_and_errors(scanner: PiiScanner) -> None:
    arguments = {"customer_name": "priya raman", "last_name": "O'Connor", "city": "Oslo", "file_name": "Report Final"}
    request = {
        "messages": [
            {"role": "user", "content": "Look her up"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "find", "arguments": json.dumps(arguments)}}]},
            {
                "role": "tool",
                "content": json.dumps({"assignee": "Wei Zhang", "note": "moved from Rotterdam last year"}),
            },
        ]
    }
    [done] = scanner.redact_calls(
        [
            CallTexts(
                request=request,
                response={"role": "assistant", "content": "I booked it under the name of Tanaka."},
                metadata={"customer": "Anna-Lena Bergström"},
                error="lookup failed for Giulia Rossi",
            )
        ]
    )

    assert json.loads(done.request["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {
        "customer_name": "<PERSON>",  # a field named for a person's name: the value whole
        "last_name": "<PERSON>",
        "city": "<LOCATION>",  # alone, the model calls it an organisation; the key says it is a place
        "file_name": "Report Final",
    }
    assert json.loads(done.request["messages"][2]["content"]) == {
        "assignee": "<PERSON>",
        "note": "moved from <LOCATION> last year",
    }
    assert done.response == {"role": "assistant", "content": "I booked it under the name of <PERSON>."}
    assert done.metadata == {"customer": "<PERSON>"}
    assert done.error == "lookup failed for <PERSON>"
    assert done.tally.fields["tool-call arguments.customer_name"] == 1 and done.tally.types["LOCATION"] == 2


def test_a_person_field_keeps_an_allow_listed_value(scanner: PiiScanner) -> None:
    allowing = PiiScanner(PolicySpec(allow_list=("Support Team",)))
    tally = Tally()
    value = {"contact_name": "Support Team", "customerName": "Ann Lee"}
    assert allowing.redact_value(value, tally, "metadata") == {
        "contact_name": "Support Team",
        "customerName": "<PERSON>",
    }


def test_the_pattern_only_engine_loads_no_model_and_finds_places_only_by_their_cues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patterns = PiiScanner(PolicySpec(ner_model=""))
    assert patterns.ner is None
    [done, cued] = patterns.redact_calls(
        [call("Tanaka met us in Lisbon; Samuel Lindqvist stayed."), call("Tanaka moved to Lisbon.")]
    )
    assert user_text(done) == "Tanaka met us in Lisbon; <PERSON> stayed."
    assert user_text(cued) == "Tanaka moved to <LOCATION>."


def test_a_single_call_goes_the_same_way(scanner: PiiScanner) -> None:
    request, _, _, tally = scanner.redact_call(
        request={"messages": [{"role": "user", "content": "Dear Mr. Okonkwo,"}]}, response=None, metadata={}
    )
    assert request["messages"][0]["content"] == "Dear Mr. <PERSON>," and tally.types == {"PERSON": 1}
