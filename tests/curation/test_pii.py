"""The offline PII engine: what it finds, what it leaves, and that redacted JSON stays JSON."""

import itertools
import json
import re
from collections import Counter
from typing import Any

import pytest
from presidio_analyzer import RecognizerResult

from apps.curation import scanner as scanner_module
from apps.curation.pii import Finding, _resolve
from apps.curation.scanner import PiiScanner, PolicySpec, Tally, TextTooLong, text_too_long
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


# --- long texts: windows, and a cost linear in the length -------------------------------------------

FILLER = "the parcel went back to the depot and nobody told us why it was late again "
PLANTS = {
    "EMAIL_ADDRESS": "mara.quist@example.org",
    "PHONE_NUMBER": "(415) 555-0134",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "PERSON": "Samuel Lindqvist",
    "IBAN_CODE": "DE89 3704 0044 0532 0130 00",
}


def planted_text(positions: list[int], length: int) -> tuple[str, Counter[str], str]:
    """Filler of about `length` characters with a PII value (cycling through PLANTS) starting at each
    position and one at the very end; also the type of that last one."""
    text = (FILLER * (length // len(FILLER) + 1))[:length]
    kinds = list(PLANTS)
    planted: Counter[str] = Counter()
    for i, position in enumerate([*positions, length]):
        kind = kinds[i % len(kinds)]
        value = f" {PLANTS[kind]} "
        text = text[: position - 1] + value + text[position - 1 + len(value) :]
        planted[kind] += 1
    return text.rstrip(), planted, kind


def one_pass_findings(text: str) -> list[Finding]:
    """What a scanner finds reading the whole text at once (one window)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scanner_module, "WINDOW_CHARS", 10 * len(text))
        return PiiScanner().findings(text)


def test_pii_at_window_edges_and_at_the_very_end_is_all_removed() -> None:
    window, overlap = scanner_module.WINDOW_CHARS, scanner_module.OVERLAP_CHARS
    # where one window's part ends and the next one's starts, and where each window's text ends or starts
    edges = [k * window + side for k in (1, 2, 3) for side in (-overlap, 0, overlap)]
    # each value straddles an edge (they are 9 to 27 characters long)
    spaced = [edge - 5 for edge in edges]
    text, planted, last = planted_text(spaced, 4 * window + 500)
    assert len(text) > 4 * window  # five windows

    redacted, counts = redact(PiiScanner(), text)

    for value in PLANTS.values():
        assert value not in redacted
    assert counts == planted and sum(planted.values()) == len(spaced) + 1
    assert redacted.endswith(f"<{last}>")
    # the windows find exactly what one pass over the whole text finds
    assert PiiScanner().findings(text) == one_pass_findings(text)


def test_a_long_text_is_redacted_the_same_as_its_pieces(scanner: PiiScanner) -> None:
    pieces = [f"Ticket from Samuel Lindqvist, ring (415) 555-{i:04d} or mail a{i}@example.com. " for i in range(700)]
    assert len("".join(pieces)) > 2 * scanner_module.WINDOW_CHARS
    whole, counts = redact(PiiScanner(), "".join(pieces))
    assert counts == Counter({"EMAIL_ADDRESS": 700, "PHONE_NUMBER": 700, "PERSON": 700})
    assert whole == "".join(redact(scanner, piece)[0] for piece in pieces)


def test_overlapping_findings_keep_the_strongest_in_time_linear_in_their_number() -> None:
    """200,000 findings: comparing each with every one kept before would take hours."""
    results = [RecognizerResult("EMAIL_ADDRESS", i * 10, i * 10 + 8, 0.9) for i in range(200_000)]
    results += [RecognizerResult("URL", i * 10 + 2, i * 10 + 6, 0.5) for i in range(0, 200_000, 7)]
    results += [RecognizerResult("PHONE_NUMBER", 5, 25, 0.95)]
    chosen = _resolve(results)
    assert len(chosen) == 200_000 - 3 + 1  # the phone number covers three e-mails
    assert chosen[0] == Finding("PHONE_NUMBER", 5, 25, 0.95)
    assert all(f.entity_type == "EMAIL_ADDRESS" for f in chosen[1:])
    assert all(a.end <= b.start for a, b in itertools.pairwise(chosen))


def test_a_text_over_the_hard_cap_is_refused_not_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "MAX_TEXT_CHARS", 1_000)
    call = {"model": "m", "messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "x" * 1_001}]}
    with pytest.raises(TextTooLong, match="1,001 characters is over the limit of 1,000"):
        PiiScanner().redact_call(request=call, response=None, metadata={})
    assert text_too_long(call, "request") == "request.messages[1].content"
    assert text_too_long({"a": ["x" * 1_000]}, "metadata") is None


@pytest.mark.parametrize(
    "run",
    [
        "a." * 20_000 + "@",  # presidio's own e-mail pattern: 53 s at 16,000 characters, growing with the cube
        "eyJ-" * 10_000,  # the JWT pattern restarted at every "eyJ"
        "-----BEGIN " + "A " * 20_000,
    ],
    ids=["dotted-run", "jwt-starts", "key-header"],
)
def test_runs_that_made_a_pattern_backtrack_are_scanned_in_one_pass(scanner: PiiScanner, run: str) -> None:
    assert redact(scanner, run) == (run, Counter())
    redacted, counts = redact(scanner, f"{run} write to jane@example.com")
    assert redacted.endswith("write to <EMAIL_ADDRESS>") and counts == Counter({"EMAIL_ADDRESS": 1})


def test_pattern_recognizers_asked_only_when_a_pattern_is_there_find_the_same() -> None:
    """The engine skips a pattern recognizer whose patterns are all absent: with and without that check,
    every finding is the same, at the same offsets and scores."""
    from apps.curation.pii import DEFAULT_ENTITY_TYPES, build_engine

    engine = build_engine()
    assert engine.gates  # the e-mail, IP, SSN, crypto and secrets recognizers are made of patterns alone
    texts = [
        "write to jane.doe@example.co.uk or ops@corp.io today",
        "server 10.0.0.12 and fe80::1ff:fe23:4567:890a are down; version 1.2.3 is fine",
        "SSN 078-05-1121? no, 123-45-6789 and 219 09 9999",
        "send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT or bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx123456 and Authorization: Bearer abc.def.ghi",
        "card 4111 1111 1111 1111, call +1 (415) 555-0134, IBAN DE89 3704 0044 0532 0130 00",
        "order 12345 shipped on 2026-11-30 at 10:00",
        "",
    ]
    entities = list(DEFAULT_ENTITY_TYPES)

    def run() -> list[list[tuple[str, int, int, float]]]:
        return [[(r.entity_type, r.start, r.end, r.score) for r in engine.analyze(t, entities)] for t in texts]

    gated = run()
    gates, engine.gates = engine.gates, {}
    try:
        ungated = run()
    finally:
        engine.gates = gates
    assert gated == ungated
    found = {entity for findings in gated for entity, *_ in findings}
    assert {"EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN", "CRYPTO", "SECRET"} <= found
