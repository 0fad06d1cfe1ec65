"""bench/pii_corpus.py: the generated PII corpus is deterministic, its spans are exact and of the type
they claim, distractors are never spans, and every form the bench reports on occurs."""

import importlib
import ipaddress
import json
import pkgutil
import re
from collections import Counter

import faker.providers.person
import phonenumbers
import pytest

from bench import pii_corpus
from bench.pii_corpus import Example

EXTENSION = re.compile(r" (?:x|ext\.?|Ext\.) ?\d+$")


@pytest.fixture(scope="module")
def corpus() -> list[Example]:
    return pii_corpus.generate(3000, seed=7)


def spans_of(corpus: list[Example], entity: str) -> list[tuple[str, str]]:
    """(value, variant) of every span of a type."""
    return [
        (e.text[start:end], variant)
        for e in corpus
        for (start, end, kind), variant in zip(e.spans, e.variants, strict=True)
        if kind == entity
    ]


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another() -> None:
    assert pii_corpus.generate(200, seed=3) == pii_corpus.generate(200, seed=3)
    assert pii_corpus.generate(200, seed=3) != pii_corpus.generate(200, seed=4)


def test_the_checksums_the_corpus_is_checked_with_reject_a_changed_digit() -> None:
    assert pii_corpus.luhn_valid("4111111111111111")
    assert not pii_corpus.luhn_valid("4111111111111112")
    assert pii_corpus.iban_valid("DE89 3704 0044 0532 0130 00")
    assert not pii_corpus.iban_valid("DE89 3704 0044 0532 0130 01")


def test_spans_are_exact_ordered_and_one_per_variant(corpus: list[Example]) -> None:
    for e in corpus:
        assert len(e.spans) == len(e.variants)
        previous_end = 0
        for start, end, entity in e.spans:
            assert entity in pii_corpus.TYPES
            assert previous_end <= start < end <= len(e.text)
            value = e.text[start:end]
            assert value == value.strip() and value
            previous_end = end


def test_cards_are_luhn_valid_digits_in_their_grouping(corpus: list[Example]) -> None:
    cards = spans_of(corpus, "CREDIT_CARD")
    assert cards
    for value, variant in cards:
        issuer, grouping = variant.split(":")
        digits = re.sub(r"[ -]", "", value)
        assert digits.isdigit() and pii_corpus.luhn_valid(digits), value
        assert digits.startswith(pii_corpus.CARD_RANGES[issuer][0]), value
        assert len(digits) in pii_corpus.CARD_RANGES[issuer][1], value
        separators = set(re.sub(r"\d", "", value))
        assert separators == {"none": set(), "spaces": {" "}, "dashes": {"-"}}[grouping], value
    amex = [v for v, variant in cards if variant.startswith("amex:spaces")]
    assert amex and all(re.fullmatch(r"3[47]\d\d \d{6} \d{5}", v) for v in amex)


def test_phones_are_valid_numbers_of_their_region(corpus: list[Example]) -> None:
    phones = spans_of(corpus, "PHONE_NUMBER")
    assert phones
    for value, variant in phones:
        region = variant.split(":")[0]
        number = EXTENSION.sub("", value).replace("(0)", "")
        if number.startswith("00"):
            number = "+" + number[2:]
        parsed = phonenumbers.parse(number, region)
        assert phonenumbers.is_valid_number(parsed), value
        assert (EXTENSION.search(value) is not None) == (len(variant.split(":")) == 3), value


def test_every_other_type_holds_a_value_of_its_kind(corpus: list[Example]) -> None:
    for value, _ in spans_of(corpus, "EMAIL_ADDRESS"):
        local, _, domain = value.partition("@")
        assert local and "." in domain and " " not in value, value
    for value, _ in spans_of(corpus, "IBAN_CODE"):
        assert pii_corpus.iban_valid(value), value
    for value, _ in spans_of(corpus, "IP_ADDRESS"):
        ipaddress.ip_address(value)
    for value, variant in spans_of(corpus, "US_SSN"):
        pattern = {"dashes": r"\d{3}-\d{2}-\d{4}", "spaces": r"\d{3} \d{2} \d{4}", "compact": r"\d{9}"}[variant]
        assert re.fullmatch(pattern, value), value
    for value, _ in spans_of(corpus, "PERSON"):
        assert re.search(r"[^\W\d_]", value) and not re.search(r"[\d@]", value), value
    for value, _ in spans_of(corpus, "LOCATION"):
        assert re.search(r"[^\W\d_]{2}", value), value
    for value, variant in spans_of(corpus, "STREET_ADDRESS"):
        assert re.search(r"[^\W\d_]{2}", value), value
        if variant == "us_full":
            assert re.search(r"\b\d{5}$", value), value


def test_distractors_carry_no_span_and_luhn_ids_pass_the_luhn_check(corpus: list[Example]) -> None:
    for e in corpus:
        for start, end, kind in e.distractors:
            assert kind in pii_corpus.DISTRACTOR_KINDS
            assert not any(s < end and start < t for s, t, _ in e.spans), (e.text, e.text[start:end])
            if kind in ("luhn_id", "luhn_num"):
                assert pii_corpus.luhn_valid(e.text[start:end])


def test_tool_results_are_json_with_the_planted_values_as_strings_and_luhn_ids_as_numbers(
    corpus: list[Example],
) -> None:
    tool_results = [e for e in corpus if e.kind == "tool_json"]
    assert tool_results
    numbers = 0
    for e in tool_results:
        parsed = json.loads(e.text)
        strings = set(re.findall(r'"([^"]*)"', json.dumps(parsed, ensure_ascii=False)))
        for start, end, _ in e.spans:
            assert any(e.text[start:end] in s for s in strings)
        for start, _, kind in e.distractors:
            if kind == "luhn_num":
                assert e.text[start - 1] != '"'
                numbers += 1
    assert numbers


def test_every_type_name_form_card_issuer_phone_format_and_distractor_occurs(corpus: list[Example]) -> None:
    types = Counter(t for e in corpus for *_, t in e.spans)
    assert set(types) == set(pii_corpus.TYPES)
    names = [variant.split(":") for _, variant in spans_of(corpus, "PERSON")]
    assert {form for form, _ in names} == set(pii_corpus.NAME_FORMS)
    assert {(form, source) for form, source in names} == {
        (form, source) for form in pii_corpus.NAME_FORMS for source in pii_corpus.NAME_SOURCES
    }
    cards = {variant for _, variant in spans_of(corpus, "CREDIT_CARD")}
    assert cards == {f"{i}:{g}" for i in pii_corpus.CARD_ISSUERS for g in pii_corpus.CARD_GROUPINGS}
    phones = [variant.split(":") for _, variant in spans_of(corpus, "PHONE_NUMBER")]
    assert {p[1] for p in phones} == set(pii_corpus.PHONE_FORMATS)
    assert {p[2] for p in phones if len(p) == 3} == set(pii_corpus.PHONE_EXTENSIONS)
    assert {p[0] for p in phones} >= {loc.split("_")[1] for loc in pii_corpus.LOCALES}
    assert {k for e in corpus for *_, k in e.distractors} == set(pii_corpus.DISTRACTOR_KINDS)
    assert {e.locale for e in corpus} == set(pii_corpus.LOCALES) | set(pii_corpus.MORE_NAME_LOCALES)
    assert {e.kind for e in corpus} == set(pii_corpus.TEMPLATES)


def test_held_out_names_are_in_no_faker_list() -> None:
    faker_names: set[str] = set()
    for module in pkgutil.iter_modules(faker.providers.person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attr in dir(provider):
            values = getattr(provider, attr)
            if "name" in attr and isinstance(values, list | tuple | dict | set | frozenset):
                faker_names.update(str(n).lower() for n in values)
    held_out = {n.lower() for n in (*pii_corpus.HELD_OUT_FIRST, *pii_corpus.HELD_OUT_LAST)}
    assert len(held_out) >= 100
    assert not held_out & faker_names
