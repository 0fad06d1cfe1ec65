"""The pattern recognizers on values nobody tuned them on: cards of every issuer in every grouping, phone
numbers of many regions in national and international formats with extensions, street addresses and US
ZIP codes (off by default), and the near-misses that must stay in the text: order numbers, timestamps,
version strings, Luhn-valid ids in JSON, dates, amounts and IP addresses.

Values are generated here (a seeded random, Faker in several locales), not taken from the shipped sample.
"""

import random

import pytest
from faker import Faker

from apps.curation.models import CurationPolicy
from apps.curation.pii import DEFAULT_THRESHOLD, ENTITY_TYPES, OFF_BY_DEFAULT_TYPES, _resolve, build_engine
from apps.curation.recognizers.cards import gtin_valid, luhn_valid
from apps.curation.services import policy_entities

PATTERN_TYPES = [e for e in ENTITY_TYPES if e != "PERSON"]


def found(text: str, types: list[str] | None = None) -> list[tuple[str, str]]:
    """What the pattern engine redacts at the default threshold, as (type, value) in text order."""
    results = [r for r in build_engine().analyze(text, types or PATTERN_TYPES) if r.score >= DEFAULT_THRESHOLD]
    return [(f.entity_type, text[f.start : f.end]) for f in _resolve(results)]


def luhn_number(rng: random.Random, prefix: str, length: int) -> str:
    """A number of `length` digits starting with `prefix` whose last digit makes it pass the Luhn check."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


# --- credit cards ------------------------------------------------------------------------------------------

# How each length is grouped when it is written in groups (Amex 4-6-5, Diners 4-6-4, the rest by fours).
GROUPINGS = {12: (4, 4, 4), 13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}
ISSUERS = {
    "visa-13": (["4"], 13),
    "visa-16": (["4"], 16),
    "visa-19": (["4"], 19),
    "mastercard-51-55": (["51", "52", "53", "54", "55"], 16),
    "mastercard-2221-2720": (["2221", "2349", "2598", "2720"], 16),
    "amex": (["34", "37"], 15),
    "discover": (["6011", "644", "649", "65"], 16),
    "jcb": (["3528", "3561", "3589"], 16),
    "diners": (["300", "305", "36", "38"], 14),
    "unionpay-16": (["62"], 16),
    "unionpay-19": (["62"], 19),
    "maestro-12": (["5018", "6759"], 12),
    "maestro-19": (["5020", "6304", "6763"], 19),
}
SEPARATORS = {"spaces": " ", "dashes": "-", "no-separator": ""}
CARD_SENTENCES = (
    "Please charge {} for the renewal.",
    "card: {}",
    '{{"payment": {{"card_number": "{}", "exp": "04/29"}}}}',
    "Meine Karte ist {} (gültig bis 11/27)",
    "{}",
)


def grouped(number: str, separator: str) -> str:
    parts, position = [], 0
    for size in GROUPINGS[len(number)]:
        parts.append(number[position : position + size])
        position += size
    return separator.join(parts)


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("issuer", ISSUERS)
def test_cards_of_every_issuer_are_found_in_every_grouping(issuer: str, separator: str) -> None:
    rng = random.Random(f"{issuer}/{separator}")
    prefixes, length = ISSUERS[issuer]
    for sentence in CARD_SENTENCES:
        number = luhn_number(rng, rng.choice(prefixes), length)
        while sentence == "{}" and not SEPARATORS[separator] and gtin_valid(number):
            number = luhn_number(rng, rng.choice(prefixes), length)  # read as a barcode: a documented miss
        number = grouped(number, SEPARATORS[separator])
        text = sentence.format(number)
        assert ("CREDIT_CARD", number) in found(text), text


def test_fakers_cards_are_found_after_a_card_word() -> None:
    for seed, locale in enumerate(("en_US", "de_DE", "fr_FR", "ja_JP", "pt_BR")):
        fake = Faker(locale)
        fake.seed_instance(seed)
        for kind in ("amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa13", "visa16"):
            number = fake.credit_card_number(kind)
            text = f"Paid with card {number} on {fake.date()}"
            assert ("CREDIT_CARD", number) in found(text), text


def test_a_card_word_outweighs_the_hash_before_the_number() -> None:
    number = grouped(luhn_number(random.Random(7), "4", 16), " ")
    assert found(f"Card #{number}") == [("CREDIT_CARD", number)]
    assert found(f"Ticket #{number}") == []


_rng = random.Random(2024)
ORDER = [
    luhn_number(_rng, prefix, length) for prefix, length in (("4", 16), ("5", 16), ("37", 15), ("6", 16), ("35", 16))
]
EPOCH_MS = next(str(n) for n in range(1_718_031_337_000, 1_718_031_338_000) if luhn_valid(str(n)))
EPOCH_US = next(str(n) for n in range(1_718_031_337_000_000, 1_718_031_337_001_000) if luhn_valid(str(n)))
EPOCH_NS = next(str(n) for n in range(1_718_031_337_000_000_000, 1_718_031_337_000_001_000) if luhn_valid(str(n)))
COMPACT_TIME = next(f"20240315{s:06d}" for s in range(94100, 94160) if luhn_valid(f"20240315{s:06d}"))
IMEI = luhn_number(_rng, "35", 15)
BARCODE = next(n for n in (luhn_number(_rng, "40", 13) for _ in range(1000)) if gtin_valid(n))
PHONE_LIKE_CARD = luhn_number(_rng, "1512", 12)  # +49 1512 3456 7890 passes the Luhn check as a card would


@pytest.mark.parametrize(
    "text",
    [
        f"Where is order {ORDER[0]}? It was due Monday.",
        f"Order #{grouped(ORDER[1], ' ')} has shipped",
        f"invoice no. {ORDER[2]}",
        f"tracking number {ORDER[3]}",
        f"see ticket #{ORDER[4]}",
        f"#{ORDER[0]}",
        f'{{"order_id": {ORDER[0]}, "id": "{ORDER[1]}", "tracking": "{ORDER[2]}", "orderId": "{ORDER[3]}"}}',
        f'{{"items": [{{"sku": "{ORDER[4]}", "invoice_number": "{ORDER[0]}"}}]}}',
        f"https://shop.example.com/orders/{ORDER[1]}/status",
        f"SKU-{ORDER[2]} and {ORDER[3]}-01 and {ORDER[4]}x",
        f"Event logged {EPOCH_MS}",
        f"Event logged {EPOCH_US}",
        f"Event logged {EPOCH_NS}",
        f"Backup {COMPACT_TIME} finished",
        f"IMEI {IMEI}",
        f"Scanned {BARCODE} at the till",
        f"Upgraded to v{ORDER[0]} and 4.{ORDER[1][:4]}.{ORDER[1][4:8]}.{ORDER[1][8:]}",
        f"Balance {ORDER[2]}.25 EUR",
    ],
    ids=[
        "order", "order-hash-grouped", "invoice", "tracking", "ticket-hash", "hash", "json-ids", "json-sku",
        "url-path", "glued", "epoch-ms", "epoch-us", "epoch-ns", "compact-datetime", "imei", "barcode", "versions",
        "decimal",
    ],
)  # fmt: skip
def test_luhn_valid_numbers_that_are_not_cards_are_kept(text: str) -> None:
    assert [kind for kind, _ in found(text)] == []


def test_a_phone_number_that_passes_the_luhn_check_is_a_phone_number() -> None:
    text = f"Ring +49 {PHONE_LIKE_CARD[:4]} {PHONE_LIKE_CARD[4:8]} {PHONE_LIKE_CARD[8:]} today"
    assert found(text) == [("PHONE_NUMBER", text[5:-6])]


# --- phone numbers ------------------------------------------------------------------------------------------

PHONES = {
    "US/CA": ["(312) 555-0187", "312.555.0187", "312-555-0187", "+1 312 555 0187", "1-800-555-0199",
              "+1 (604) 555-0142"],
    "GB": ["020 7946 0321", "+44 20 7946 0321", "07700 900987", "+44 (0)161 496 0753"],
    "DE": ["030 12345678", "+49 30 12345678", "0151 23456789", "+49 (0) 89 1234567", "030/1234567"],
    "FR": ["01 42 68 53 00", "+33 1 42 68 53 00", "06.12.34.56.78", "+33 (0)6 12 34 56 78"],
    "ES": ["912 345 678", "+34 612 34 56 78", "612 34 56 78"],
    "IT": ["06 6982 1234", "+39 347 123 4567", "02-1234567", "347 123 4567"],
    "NL": ["020-123 4567", "+31 6 12345678", "06-12345678"],
    "BR": ["(11) 91234-5678", "+55 21 98765-4321", "11 91234-5678"],
    "PL": ["22 123 45 67", "+48 601 234 567", "601 234 567"],
    "SE": ["08-123 456 78", "+46 70 123 45 67", "070-123 45 67"],
    "IN": ["+91 98765 43210", "098765 43210", "022 2345 6789"],
    "AU": ["(02) 9876 5432", "+61 2 9876 5432", "0412 345 678", "+61 412 345 678"],
    "international-00": ["0049 30 12345678", "0033 1 42 68 53 00"],
}  # fmt: skip
PHONE_SENTENCES = ("Details: {}.", "Call me on {} after 5pm", '{{"customer": {{"phone": "{}"}}}}', "Mobil: {}")


@pytest.mark.parametrize("region", PHONES)
def test_phone_numbers_of_each_region_are_found_in_national_and_international_formats(region: str) -> None:
    for number in PHONES[region]:
        for sentence in PHONE_SENTENCES:
            text = sentence.format(number)
            assert ("PHONE_NUMBER", number) in found(text), text


@pytest.mark.parametrize(
    "number",
    ["(312) 555-0187 x123", "312-555-0187 ext. 45", "+44 20 7946 0321 #200", "+49 30 1234567 ext 89",
     "0161 496 0753 extension 4021", "+1-780-563-6083x7783", "555.867.5309 X12"],
)  # fmt: skip
def test_an_extension_is_redacted_with_its_number(number: str) -> None:
    assert found(f"Reach support at {number} any time") == [("PHONE_NUMBER", number)]


@pytest.mark.parametrize(
    "locale",
    ["en_US", "en_CA", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE", "en_AU"],
)
def test_fakers_phone_numbers_are_found_after_a_phone_word(locale: str) -> None:
    fake = Faker(locale)
    fake.seed_instance(locale)
    for i in range(30):
        number = fake.phone_number()
        text = f"{('Call', 'Phone:', 'text me on', 'Tel.')[i % 4]} {number} before noon"
        assert ("PHONE_NUMBER", number) in found(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Meeting on 2024-03-15, 15.03.2024, 03/15/2024, 15/03/2024 or 2024/03/15 at 09:41:27",
        "Logged 2024-03-15T09:41:27Z, 2024-03-15 09:41:27.123 and 2024-03-15T09:41:27+02:00",
        "Total $1,234,567.89 or € 1.234.567,00 or 12 345 678 € or USD 4 500 000 for 1 234 567 people",
        "Upgrade from 10.0.19045.2364 to v2.14.1-rc.3, 1.2.3.4567, 8.13.9772 or 10.55.9166, build 2023.11.05.1234",
        "Request 02667359-ad00-4c27-bbf2-a7299075cc1d failed; scanned 0012345678905 and 06478162",
        "Hosts 192.168.100.200, 10.20.30.40:8080 and 172.16.254.10",
        "Event at 1718031337 or 1718031337123",
        "Position 52.520008, 13.404954; pi is 3.14159265358",
        "Order 3125550187 and ref #312-555-0187",
        "Rows 1000000 and 2500000 of 99999999",
    ],
    ids=[
        "dates",
        "iso-timestamps",
        "amounts",
        "versions",
        "uuid-barcodes",
        "ip-addresses",
        "epoch",
        "decimals",
        "ids",
        "counts",
    ],
)
def test_numbers_that_are_not_phone_numbers_are_kept(text: str) -> None:
    assert [(kind, value) for kind, value in found(text) if kind != "IP_ADDRESS"] == []


def test_a_card_number_is_a_card_not_a_phone_number() -> None:
    number = grouped(luhn_number(random.Random(3), "37", 15), " ")
    assert found(f"Details: {number}") == [("CREDIT_CARD", number)]


# --- street addresses and ZIP codes (off by default) ---------------------------------------------------------

ADDRESSES = [
    ("1600 Pennsylvania Avenue NW, Washington, DC 20500", "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("To 350 Fifth Avenue, Suite 3300, New York, NY 10118 today", "350 Fifth Avenue, Suite 3300, New York, NY 10118"),
    ("She moved to 742 Evergreen Terrace last year", "742 Evergreen Terrace"),
    ("Send it to 12 N 5th Street tomorrow", "12 N 5th Street"),
    ("221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE"),
    ("Flat 3, 14 Carlton Road, Manchester M16 8BB", "Flat 3, 14 Carlton Road, Manchester M16 8BB"),
    ("Lieferung an Hauptstraße 12, 10115 Berlin", "Hauptstraße 12, 10115 Berlin"),
    ("Büro: Berliner Str. 45a", "Berliner Str. 45a"),
    ("Treffpunkt Am Markt 3", "Am Markt 3"),
    ("Livraison au 12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"),
    ("3, avenue des Champs-Élysées", "3, avenue des Champs-Élysées"),
    ("Calle Mayor 5, 3º B, 28013 Madrid", "Calle Mayor 5, 3º B, 28013 Madrid"),
    ("Avenida de la Constitución 12", "Avenida de la Constitución 12"),
    ("Consegna in Via Roma 10, 00184 Roma", "Via Roma 10, 00184 Roma"),
    ("Rua das Flores, 123, 1200-195 Lisboa", "Rua das Flores, 123, 1200-195 Lisboa"),
    ("Adres: ul. Marszałkowska 12/4, 00-590 Warszawa", "ul. Marszałkowska 12/4, 00-590 Warszawa"),
    ("Kerkstraat 12, 1017 GB Amsterdam", "Kerkstraat 12, 1017 GB Amsterdam"),
    ("Storgatan 12, 114 44 Stockholm", "Storgatan 12, 114 44 Stockholm"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "address"), ADDRESSES, ids=[a[:24] for _, a in ADDRESSES])
def test_street_addresses_are_found_with_their_unit_city_and_postcode(text: str, address: str) -> None:
    assert found(text, ["STREET_ADDRESS"]) == [("STREET_ADDRESS", address)]


@pytest.mark.parametrize("locale", ["en_US", "en_CA", "de_DE", "de_CH", "pl_PL", "sv_SE"])
def test_fakers_street_addresses_are_found(locale: str) -> None:
    fake = Faker(locale)
    fake.seed_instance(locale)
    for _ in range(30):
        street = fake.street_address()
        text = f"Please deliver to {street} before Friday."
        addresses = [value for _, value in found(text, ["STREET_ADDRESS"])]
        # the whole street, or all of it but a lower-case first word ("auch Schlauchinallee 3/2")
        assert [a for a in addresses if street in a or (street.endswith(a) and " " in a)] != [], text


def test_sentences_with_numbers_are_not_addresses() -> None:
    text = "Chapter 3 covers the basics. We shipped 12 boxes on Monday: Spring 2024 release, Windows 11 Pro."
    assert found(text, ["STREET_ADDRESS", "US_ZIP_CODE"]) == []


@pytest.mark.parametrize(
    ("text", "zip_code"),
    [
        ("Springfield, IL 62704", "62704"),
        ("Austin, Texas 78701-4021", "78701-4021"),
        ("ZIP: 94105", "94105"),
        ('{"zipCode": "10001"}', "10001"),
        ("postal code 30301", "30301"),
    ],
)
def test_us_zip_codes_are_found_after_a_state_or_a_zip_word(text: str, zip_code: str) -> None:
    assert found(text, ["US_ZIP_CODE"]) == [("US_ZIP_CODE", zip_code)]


def test_five_digit_numbers_alone_are_not_zip_codes() -> None:
    assert found("Room 12345, order 12345, 12345 users, CA 1234", ["US_ZIP_CODE"]) == []


def test_addresses_and_zip_codes_are_off_in_a_new_policy_and_found_only_when_asked_for() -> None:
    entities = policy_entities(CurationPolicy())
    assert [e for e in OFF_BY_DEFAULT_TYPES if entities[e]["enabled"]] == []
    assert entities["PHONE_NUMBER"]["enabled"] and entities["CREDIT_CARD"]["enabled"]
    text = "Ship to 742 Evergreen Terrace, Springfield, OR 97403"
    assert found(text, ["PHONE_NUMBER", "CREDIT_CARD"]) == []
    assert found(text, ["US_ZIP_CODE"]) == [("US_ZIP_CODE", "97403")]
    assert found(text, ["STREET_ADDRESS", "US_ZIP_CODE"]) == [("STREET_ADDRESS", text[8:])]


# --- a cost linear in the text's length ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    ["1 ", "+1 ", "(1)", "(12) ", "00 ", "12-", "1111 ", "1111-", "12 Ab ", "Calle ", "ul. ", "Apt 1 ", "12, rue ",
     "Hauptstraße ", "CA 1 ", "Flat 1\n"],
)  # fmt: skip
def test_runs_that_could_make_a_pattern_backtrack_are_scanned_in_one_pass(unit: str) -> None:
    run = (unit * (20_000 // len(unit) + 1))[:20_000]
    assert found(run) == []
    assert found(f"{run} call +44 20 7946 0321")[-1] == ("PHONE_NUMBER", "+44 20 7946 0321")
