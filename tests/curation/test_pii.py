"""The offline PII engine: what it finds, what it leaves, and that redacted JSON stays JSON."""

import json
import re
from collections import Counter
from typing import Any

import pytest

from apps.curation.scanner import PiiScanner, PolicySpec, Tally
from tests.conftest import make_leaky_call


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner()


def redact(scanner: PiiScanner, text: str) -> tuple[str, Counter[str]]:
    tally = Tally()
    return scanner.redact_text(text, tally), tally.types


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Write to jane.doe@example.com today", "EMAIL_ADDRESS", "jane.doe@example.com"),
        ("Call (415) 555-0134 after six", "PHONE_NUMBER", "555-0134"),
        ("Ring me on 07700 900456 please", "PHONE_NUMBER", "07700 900456"),
        ("or on +44 7700 900123 at work", "PHONE_NUMBER", "7700 900123"),
        ("I paid with 4111-1111-1111-1111 yesterday", "CREDIT_CARD", "4111-1111-1111-1111"),
        ("Refund to DE89 3704 0044 0532 0130 00 please", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("The server is 192.168.10.24 now", "IP_ADDRESS", "192.168.10.24"),
        ("Use key sk-proj-abcdefghijklmnopqrstuvwxyz123456", "SECRET", "sk-proj-abcdefghij"),
        ("AWS AKIAIOSFODNN7EXAMPLE leaked", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
        ("header bEaReR abcdefghijklmnopqrstuvwxyz", "SECRET", "abcdefghijklmnopqrstuvwxyz"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU", "SECRET", "eyJhbGciOiJIUzI1NiJ9"),
        ("Thanks,\nSamuel Lindqvist", "PERSON", "Samuel Lindqvist"),
        ("is Diego Fischer's party on friday cancelled", "PERSON", "Diego Fischer"),
    ],
)
def test_each_kind_is_found_and_replaced_by_its_tag(scanner: PiiScanner, text: str, kind: str, value: str) -> None:
    redacted, counts = redact(scanner, text)
    assert value not in redacted
    assert f"<{kind}>" in redacted and counts[kind] == 1


def test_clean_text_is_left_alone(scanner: PiiScanner) -> None:
    for text in (
        "Classify the ticket into billing or shipping.",
        "SELECT count(*) FROM course WHERE credits = 4",
        "The movie was great. I Love it.",
    ):
        assert redact(scanner, text) == (text, Counter())


def test_a_luhn_valid_order_number_is_not_a_card(scanner: PiiScanner) -> None:
    text = "check order 113542617735902 status"
    assert redact(scanner, text)[0] == text


def test_allow_listed_values_survive() -> None:
    scanner = PiiScanner(PolicySpec(allow_list=("support@acme.example.com",)))
    redacted, counts = redact(scanner, "Mail support@acme.example.com or bob@example.org")
    assert "support@acme.example.com" in redacted and "bob@example.org" not in redacted
    assert counts == Counter({"EMAIL_ADDRESS": 1})


def test_switched_off_types_are_kept() -> None:
    scanner = PiiScanner(PolicySpec(thresholds={"EMAIL_ADDRESS": 0.4}))
    redacted, _ = redact(scanner, "Samuel Lindqvist, samuel@example.com")
    assert redacted == "Samuel Lindqvist, <EMAIL_ADDRESS>"


def test_each_distinct_string_is_analysed_once() -> None:
    scanner = PiiScanner()
    for _ in range(5):
        redact(scanner, "Call (415) 555-0134")
    assert scanner.analysed == 1


def test_every_field_of_a_call_is_redacted_and_json_stays_json(scanner: PiiScanner) -> None:
    record = make_leaky_call("x")
    original = json.dumps(record)
    new_request, new_response, new_metadata, tally = scanner.redact_call(
        request=record["request"], response=record["response"], metadata=record["metadata"]
    )
    everything = json.dumps([new_request, new_response, new_metadata])
    for leaked in ("ann.lee@example.com", "555-0199", "hunter2", "Lindqvist", "GB82", "555-0117", "sk-proj-"):
        assert leaked not in everything
    for call in (new_request["messages"][3]["tool_calls"][0], new_response["tool_calls"][0]):
        json.loads(call["function"]["arguments"])  # still valid JSON
    assert json.loads(new_request["messages"][4]["content"])["by"] == "<PERSON>"
    assert new_request["tools"] == record["request"]["tools"]
    assert tally.types["EMAIL_ADDRESS"] == 2 and tally.types["SECRET"] == 2
    assert tally.fields["tool-call arguments.email"] == 1 and tally.fields["metadata.api_key"] == 1
    assert json.dumps(record) == original  # the input is not changed


def test_planted_emails_and_cards_in_the_sample_are_all_removed(
    scanner: PiiScanner, sample_records: list[dict[str, Any]]
) -> None:
    email = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    card = re.compile(r"\b[3-6]\d{3}(?:[ -]?\d{4}){2}[ -]?\d{3,4}\b")
    leaked = []
    for record in sample_records:
        if record["task"] != "ticket_triage_json":
            continue
        redacted, _, _, _ = scanner.redact_call(request=record["request"], response=record["response"], metadata={})
        for m in redacted["messages"]:
            if m["role"] == "user" and (email.search(m["content"]) or card.search(m["content"])):
                leaked.append(record["id"])
    assert leaked == []
