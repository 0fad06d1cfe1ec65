"""Replacement operators: tags, masks, and pseudonyms that keep the shape and stay consistent per key."""

import re

from apps.curation.operators import mask, pseudonym
from apps.curation.scanner import PiiScanner, PolicySpec, Tally

KEY_A, KEY_B = bytes.fromhex("aa" * 32), bytes.fromhex("bb" * 32)


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def test_mask_hides_letters_and_digits_but_keeps_separators() -> None:
    assert mask("jane.doe@example.com") == "****.***@*******.***"
    assert mask("+1 415-555-0134") == "+* ***-***-****"


def test_the_same_value_gets_the_same_pseudonym_under_one_key_and_another_under_another() -> None:
    for entity, value in (
        ("PERSON", "Samuel Lindqvist"),
        ("EMAIL_ADDRESS", "ann.lee@example.com"),
        ("PHONE_NUMBER", "+1 415-555-0134"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
    ):
        first, again, other = (
            pseudonym(entity, value, KEY_A),
            pseudonym(entity, value, KEY_A),
            pseudonym(entity, value, KEY_B),
        )
        assert first == again
        assert first != other
        assert first != value


def test_pseudonyms_keep_the_shape() -> None:
    name = pseudonym("PERSON", "Samuel Lindqvist", KEY_A)
    assert re.fullmatch(r"[A-ZÀ-Ý][^\s]+ [A-ZÀ-Ý][^\s]+", name), name
    assert re.fullmatch(r"[a-z.]+\d+@example\.(com|org|net)", pseudonym("EMAIL_ADDRESS", "a@b.io", KEY_A))
    phone = pseudonym("PHONE_NUMBER", "+1 415-555-0134", KEY_A)
    assert re.fullmatch(r"\+\d \d{3}-\d{3}-\d{4}", phone)
    card = pseudonym("CREDIT_CARD", "4111 1111 1111 1111", KEY_A)
    assert re.fullmatch(r"4\d{3} \d{4} \d{4} \d{4}", card) and _luhn_ok(card)
    iban = pseudonym("IBAN_CODE", "GB82 WEST 1234 5698 7654 32", KEY_A)
    assert iban.startswith("GB") and re.fullmatch(r"GB\d\d [A-Z]{4} \d{4} \d{4} \d{4} \d\d", iban)
    assert pseudonym("SECRET", "sk-proj-abcdefghijklmnopqrstuvwx", KEY_A).startswith("sk-proj-")
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", pseudonym("IP_ADDRESS", "192.168.1.20", KEY_A))


def test_a_scanner_applies_its_policy_operator() -> None:
    text = "Mail ann.lee@example.com, Samuel Lindqvist"
    replaced = PiiScanner(PolicySpec()).redact_text(text, Tally())
    masked = PiiScanner(PolicySpec(operator="mask")).redact_text(text, Tally())
    faked = PiiScanner(PolicySpec(operator="pseudonymise", key=KEY_A)).redact_text(text, Tally())
    assert replaced == "Mail <EMAIL_ADDRESS>, <PERSON>"
    assert masked == "Mail ***.***@*******.***, ****** *********"
    assert "ann.lee" not in faked and "Lindqvist" not in faked and "@example." in faked
