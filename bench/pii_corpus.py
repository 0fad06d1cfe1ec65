"""Annotated texts for measuring PII detection on data the detector was not fitted to.

    .venv/bin/python bench/pii_corpus.py --n 3000 --out corpus.jsonl   # prints counts per type

`generate(n, seed)` returns `Example`s: a text, its planted spans `(start, end, type)` with exact
offsets (the text is built by concatenating pieces), the template's kind (support ticket, chat turn,
tool result as JSON, e-mail, form, CRM note, shipping update, log line), the form each span was
written in (`variants`, one per span: a name's form and source, a card's issuer and grouping, a
phone's region, format and extension), and the distractors: strings that look like personal data but
are not (order numbers, timestamps, versions, Luhn-valid ids, tracking numbers, dates, amounts, SKUs,
ticket ids, UUIDs). Distractors are never spans; their offsets are kept apart so that a detector that
flags one is caught.

Values come from Faker in 22 locales: the ten the product's name list was first built from
(`LOCALES`) and twelve more (`MORE_NAME_LOCALES`). A detector that reads Faker's name lists knows
every Faker name, so 15% of the people come from short hand-written lists of real names that are in
no Faker list (`HELD_OUT_FIRST`, `HELD_OUT_LAST`): their recall is the honest one for names. Cards
are Luhn-valid numbers of every issuer in every common grouping; IBANs carry valid check digits;
phone numbers are valid for their region (libphonenumber's metadata, as a real number is) and
written in national and international formats, with extensions. Cities are real places (Faker's land
coordinates and the locales' city lists); organisations are Faker's company names.

The templates below were written and frozen before anything was measured or tuned against them
(2026-11-30). Do not edit them to move a score: add new templates in a new, dated block instead,
and never copy from demo/agent_logs_sample.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import random
import re
import string
import sys
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import phonenumbers
from faker import Faker

TYPES = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN",
    "LOCATION", "STREET_ADDRESS", "ORGANIZATION",
)  # fmt: skip
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE")
MORE_NAME_LOCALES = (
    "en_IN", "en_IE", "tr_TR", "fi_FI", "da_DK", "no_NO", "cs_CZ", "ro_RO", "hr_HR", "yo_NG", "zu_ZA", "id_ID",
)  # fmt: skip
SHARE_MORE_LOCALES = 0.25
# Names from no Faker list (a test checks it), so a detector that reads Faker's lists has not seen them.
HELD_OUT_FIRST = (
    "Chidinma Oluwaseun Tariku Meseret Abebe Jiho Seoyeon Haruto Sota Xiaoming Zhiwei Meilin Kaveh Shirin Dariush "
    "Nodira Aigerim Bolat Gulnara Anahit Hovhannes Inti Killa Eneko Eilidh Ikaika Keoni Makana Tupac Yupanqui "
    "Folake Babajide Tunde Dawit Selam Mulugeta Birtukan Tsegaye Rustam Dilnoza Saule Yerlan Ainur Zhanar Giorgi "
    "Tamuna Davit Gor Narek Lusine Ashot Aram Rangi Tevita Losana Mele Sefa Asel Bakyt Cholpon Kubat Ulan Mirlan "
    "Yiannis Eleftheria Spyros Thanos Dimitra"
).split()
HELD_OUT_LAST = (
    "Tesfaye Haile Rahimi Tehrani Karimov Nazarbayeva Beridze Kapanadze Hakobyan Grigoryan Ngata Tuilagi "
    "Etxeberria Goikoetxea MacLeod Gudmundsdottir Oyelaran Gebremedhin Wolde Tadesse Alemu Kebede Abdulov "
    "Tursunov Omarov Kenzhebekov Tsereteli Gelashvili Lomidze Sargsyan Petrosyan Vardanyan Parata Fonoti Taufa "
    "Havili Huaman Condori Aguirrezabal Cadwaladr Maclachlan Sigurdsson Thorvaldsson Papadakis Christodoulou "
    "Georgiadis Kowalczykowski Moradi Mirzaev"
).split()
SHARE_HELD_OUT_NAMES = 0.15
NAME_SOURCES = ("faker", "held_out")

NAME_FORMS = (
    "first", "last", "first_last", "last_first", "initial_last", "initials", "lower", "title_full",
    "title_last", "hyphenated", "all_caps",
)  # fmt: skip
CARD_ISSUERS = ("visa", "mastercard", "mastercard_2series", "amex", "discover", "jcb", "diners", "unionpay", "maestro")
CARD_GROUPINGS = ("spaces", "dashes", "none")
PHONE_FORMATS = (
    "national", "national_dashes", "national_dots", "national_compact", "international", "international_compact",
    "international_dashes", "international_parens", "international_trunk", "international_00",
)  # fmt: skip
PHONE_EXTENSIONS = ("x", "ext.", "ext", "Ext.")
DISTRACTOR_KINDS = (
    "order", "ts", "version", "luhn_id", "luhn_num", "tracking", "date", "amount", "sku", "ticket", "uuid",
)  # fmt: skip


@dataclass(frozen=True)
class Example:
    text: str
    spans: list[tuple[int, int, str]]
    kind: str
    variants: list[str] = field(default_factory=list)  # per span, the form it is written in
    distractors: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, distractor kind)
    locale: str = ""


# ---------------------------------------------------------------------------------------------------
# TEMPLATES: written and frozen on 2026-11-30, before any measurement or tuning. Do not edit.
#
# ${kind} is a value; ${kind:form} picks the form (names); ${kind.N} refers to person N of the text
# (the same person in different forms: "Hi ${name:greet}" ... "${name:sign}"). Name form sets are in
# NAME_FORM_SETS. Every other literal in a template is free of personal data.
# ---------------------------------------------------------------------------------------------------
TEMPLATES: dict[str, tuple[str, ...]] = {
    "ticket": (
        "Subject: Charged twice for order ${order}\n\nHello, my name is ${name:full} and I was billed twice on "
        "${date}. I paid with the card ${card} and see two charges of ${amount}. Please refund one. You can "
        "reach me at ${phone} or ${email}.",
        "Ticket ${ticket} | Priority: high\nCustomer: ${name:field}\nEmail: ${email}\nPhone: ${phone}\n"
        "Issue: the app crashes on startup after updating to ${version}. Last crash at ${ts}.",
        "Hi team, ${name:full} from ${org} here. Our invoice ${order} lists the wrong bank account, please pay "
        "to ${iban} instead. Thanks, ${name:sign}",
        "Customer reports login failures from IP ${ip} since ${date}. Account owner: ${name}. Build ${version}, "
        "request id ${uuid}.",
        "I moved! Please update my address to ${address} and my phone to ${phone}. Order ${order} should still "
        "go to the old one. - ${name:sign}",
        "Refund request: ${name:full} (${email}) returned ${sku} on ${date}. Amount: ${amount}. Card used: ${card}.",
        "Hello, I can't verify my identity. My SSN is ${ssn} and I was born on ${date}. Name on the account: "
        "${name:field}. Phone: ${phone}.",
        "Escalation from ${name:full} at ${org} in ${city}: the ${sku} units shipped with tracking ${tracking} "
        "never arrived. They want a callback on ${phone}.",
        "Bug: export fails for the workspace owned by ${email}. Reproduced on ${version} at ${ts}, request "
        "${uuid}. Reporter: ${name:sign}.",
        "Account ${ticket} was locked after too many attempts from ${ip}. The owner, ${name}, says they were "
        "travelling in ${country} at the time.",
        "URGENT - wrong delivery address. Order ${order} went to ${street} but I live at ${address}. "
        "Please call ${phone}, ask for ${name:greet}.",
    ),
    "chat_user": (
        "hi, this is ${name:lower} - can you check why my payment with ${card} failed?",
        "My name is ${name:full} and I live in ${city}. What's the weather like this weekend?",
        "please send the contract to ${email} and cc ${name:full.1}, thx",
        "Can you call me back at ${phone}? I'm ${name:first}.",
        "I need to wire money to ${name:full}, IBAN ${iban}. Amount ${amount}, reference ${order}.",
        "whats the status of order ${order}? it was supposed to arrive at ${address} on ${date}",
        "Book a table for 4 under ${name:title_last} at 7pm, phone number ${phone}",
        "Translate to French: Dear ${name:greet}, your appointment in ${city} is confirmed for ${date}.",
        "I'm ${name:full} from ${org}. Our server at ${ip} keeps timing out since we upgraded to ${version}.",
        "Summarize this: ${name:full} (${country}) met ${name:full.1} of ${org} on ${date} to discuss the "
        "${amount} deal.",
        "ok my ssn is ${ssn}, can you finish the application now?",
        "Write a short bio for ${name:full}, a designer based in ${city}, ${country}, who works at ${org}.",
        "The invoice ${order} says ${amount} but the quote from ${name:initial_last.1} said less. Can you "
        "email ${email} about it?",
    ),
    "chat_assistant": (
        "Thanks, ${name:greet}! I've updated the phone number on file to ${phone} and sent a confirmation to ${email}.",
        "I found the booking: ${name:field}, arriving in ${city} on ${date}, confirmation ${order}.",
        "The refund of ${amount} will go back to the card ${card} within 5-7 business days.",
        "Here's the summary: ${name:full} works at ${org} and can be reached at ${phone}.",
        "I've drafted the transfer to ${name:full} (IBAN ${iban}), reference ${order}. Shall I submit it?",
        "Your package ${tracking} left the depot in ${city} at ${ts} and should arrive at ${address} tomorrow.",
        "According to the CRM, ${name} is the account owner and the last login came from ${ip}.",
        "Sure ${name:greet}, I've scheduled the call with ${name:full.1} from ${org} for ${date}.",
        "I couldn't find an account for ${email}. Is there another address, or a phone number such as "
        "${phone}, that you signed up with?",
    ),
    "tool_json": (
        '{"customer": {"name": "${name:field}", "email": "${email}", "phone": "${phone}"}, '
        '"order_id": ${luhn_num}, "status": "shipped", "updated_at": "${ts}"}',
        '{"results": [{"full_name": "${name:full}", "company": "${org}", "city": "${city}"}, '
        '{"full_name": "${name:full.1}", "company": "${org}", "city": "${city}"}], "total": 2}',
        '{"payment": {"card_number": "${card}", "holder": "${name:field}", "amount": "${amount}"}, '
        '"transaction_id": "${luhn_id}", "sku": "${sku}"}',
        '{"contact": {"first_name": "${name:first}", "last_name": "${name:last}", "phone": "${phone}", '
        '"address": "${address}"}, "client_version": "${version}"}',
        '{"event": "login", "ip": "${ip}", "user": "${email}", "at": "${ts}", "request_id": "${uuid}"}',
        '{"beneficiary": "${name:field}", "iban": "${iban}", "reference": "${order}", "amount": "${amount}", '
        '"country": "${country}"}',
        '{"shipment": {"tracking": "${tracking}", "recipient": "${name:full}", "address": "${address}", '
        '"phone": "${phone}"}, "invoice_id": ${luhn_num}, "eta": "${date}"}',
        '{"employee": {"name": "${name}", "ssn": "${ssn}", "email": "${email}"}, "record": "${ticket}", '
        '"updated": "${ts}"}',
        '{"ticket": "${ticket}", "requester": "${name:lower}", "org": "${org}", "body": "Please call '
        '${name:greet} back on ${phone} about order ${order}."}',
        '{"matches": [{"name": "${name:initials}", "score": 0.92}, {"name": "${name:initial_last.1}", '
        '"score": 0.87}], "query": "${city}"}',
        '{"weather": {"location": "${city}", "country": "${country}", "temp_c": 18}, "requested_by": "${email}"}',
        '{"order": {"id": "${luhn_id}", "placed": "${date}", "items": [{"sku": "${sku}", "qty": 2}], '
        '"ship_to": {"name": "${name:full}", "street": "${street}", "city": "${city}"}}}',
        '{"session": "${uuid}", "client_ip": "${ip}", "app_version": "${version}", "user_id": ${luhn_num}, '
        '"display_name": "${name}"}',
    ),
    "email": (
        "Dear ${name:greet},\n\nThank you for your order ${order} placed on ${date}. We will ship it to "
        "${address} within two days.\n\nKind regards,\n${name:sign.1}\n${org}\n${phone}",
        "Hi ${name:greet},\n\nAs discussed, please find attached the invoice ${order}. Payment to ${iban} "
        "within 14 days.\n\nBest,\n${name:sign.1} | ${org}\nT: ${phone} | E: ${email.1}",
        "From: ${name:full} <${email}>\nTo: ${email.1}\nSubject: Re: meeting in ${city}\n\nHi ${name:greet.1}, "
        "Tuesday works. I land at ${ts}.\n\nCheers,\n${name:sign}",
        "Hello,\n\nI'd like to cancel my subscription (customer no. ${ticket}). Card on file: ${card}.\n\n"
        "Regards,\n${name:sign}\n${address}",
        "Dear Sir or Madam,\n\nI am writing on behalf of ${org} regarding the delivery ${tracking}. Please "
        "contact our logistics lead ${name:full.1} on ${phone}.\n\nSincerely,\n${name:sign}",
        "Hi all,\n\nWelcome ${name:full} to the team! ${name:first} joins us from ${org} in ${country}. "
        "Reach them at ${email}.\n\n${name:sign.1}",
        "Dear ${name:greet},\nyour password reset was requested from ${ip} at ${ts}. If this wasn't you, call "
        "us at ${phone}.\n- The security team",
        "Hallo ${name:greet},\n\nvielen Dank für Ihre Bestellung ${order}. Die Rechnung über ${amount} geht an "
        "${email}.\n\nMit freundlichen Grüßen\n${name:sign.1}",
        "Bonjour ${name:greet},\n\nvotre colis ${tracking} sera livré le ${date} au ${street}, ${city}.\n\n"
        "Cordialement,\n${name:sign.1}\n${phone}",
        "Hi ${name:greet},\n\nquick reminder that the ${sku} renewal (${amount}) is due on ${date}.\n\n"
        "--\n${name:sign.1}\nAccount Manager, ${org}\nMobile: ${phone}\n${email.1}",
    ),
    "form": (
        "Name: ${name:field}\nEmail: ${email}\nPhone: ${phone}\nCompany: ${org}\nMessage: please call me after ${ts}",
        "Card number: ${card}\nCardholder: ${name:field}\nBilling address: ${address}\nAmount: ${amount}",
        "First name: ${name:first}\nLast name: ${name:last}\nDate of birth: ${date}\nSSN: ${ssn}\nCity: ${city}",
        "Full name | ${name:field}\nIBAN | ${iban}\nReference | ${order}\nCountry | ${country}",
        "applicant=${name:field}; email=${email}; phone=${phone}; ip=${ip}; submitted=${ts}",
        "Ship to: ${name:field}\nStreet: ${street}\nCity: ${city}\nCountry: ${country}\nTracking: ${tracking}",
        "Emergency contact: ${name:full} (${phone})\nEmployer: ${org}\nEmployee ID: ${ticket}",
        "Contact person: ${name:title_full}\nTel.: ${phone}\nE-mail: ${email}\nRef.: ${order}",
        "Payment method: card\nCard no.: ${card}\nName on card: ${name:all_caps}\nOrder: ${order}\nTotal: ${amount}",
        "Social Security Number: ${ssn}\nApplicant: ${name:field}\nHome address: ${address}\nPhone: ${phone}",
    ),
    "crm_note": (
        "Call with ${name:full} (${org}) on ${date}: wants a quote for 40 seats of ${sku}. Follow up at ${email}.",
        "${name:last} said their team in ${city} is moving to ${org}. Spoke to ${name:initials.1} too. Next "
        "step: demo on ${date}.",
        "Left voicemail for ${name:title_last} at ${phone}. No answer. Retry after ${ts}.",
        "Lead: ${name:field} - ${org}, ${country}. Budget ${amount}. Decision maker: ${name:full.1}.",
        "Met ${name:greet} at the ${city} conference. Interested in the ${version} features. Card for the "
        "deposit: ${card}.",
        "Renewal risk: ${org} (${name:full}, ${email}) complained about invoice ${order}. Owner: "
        "${name:initial_last.1}.",
        "Updated billing for ${name:field}: new IBAN ${iban}, new address ${address}.",
        "${name:lower} called from ${phone} asking about ticket ${ticket}; escalated to ${name:first.1}.",
        "Visited ${org} at ${address}. ${name:full} runs procurement; assistant ${name:full.1} books meetings "
        "(${phone}).",
    ),
    "shipping": (
        "Your order ${order} has shipped! Tracking number: ${tracking}. It will be delivered to ${name:full}, "
        "${address} by ${date}.",
        "Delivery attempt failed at ${ts}. The courier will call ${phone} before the next attempt. Ref ${luhn_id}.",
        "Parcel ${tracking} arrived at the ${city} hub, ${country}. Recipient: ${name:field}.",
        "Shipping update for ${name:greet}: ${sku} x2 dispatched on ${date}, weight 2.4 kg, total ${amount}.",
        "Return label created for order ${order}. Drop it off near ${street} or call ${phone} for a pickup.",
        "Out for delivery: package ${tracking} for ${name:title_full}, ${address}. Driver contact: ${phone}.",
        "Customs hold on ${tracking}: please send the importer's details (${org}, ${email}) and invoice ${order}.",
        "Delivered at ${ts} to ${street}. Signed by: ${name:initial_last}. Order ${order}, invoice ${luhn_id}.",
    ),
    "log": (
        "${ts} INFO user=${email} ip=${ip} action=login client=${version}",
        "${ts} WARN payment declined card=${card} order=${order} amount=${amount}",
        "[${ts}] lookup_customer(name='${name:field}') -> 1 match, phone ${phone}",
        "${ts} ERROR sync failed for ${email} (request ${uuid}) from ${ip}",
        "[${ts}] geocode('${address}') -> ${city}, ${country}",
    ),
}
# --- end of the frozen templates -------------------------------------------------------------------

NAME_FORM_SETS: dict[str, tuple[str, ...]] = {
    "name": NAME_FORMS,
    "full": ("first_last", "first_last", "first_last", "title_full", "hyphenated", "initial_last", "lower"),
    "greet": ("first", "first", "title_last", "first_last", "title_full"),
    "sign": ("first_last", "first_last", "first", "initial_last", "initials", "hyphenated", "title_full"),
    "field": (
        "first_last",
        "first_last",
        "last_first",
        "last_first",
        "all_caps",
        "lower",
        "hyphenated",
        "initial_last",
    ),
    **{form: (form,) for form in NAME_FORMS},
}
EN_TITLES = ("Dr.", "Dr", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Prof.")
LOCAL_TITLES = {
    "de_DE": ("Herr", "Frau", "Dr."), "fr_FR": ("M.", "Mme"), "es_ES": ("Sr.", "Sra."), "it_IT": ("Sig.", "Dott."),
    "pt_BR": ("Sr.", "Dra."), "pl_PL": ("Pan", "Pani"), "nl_NL": ("dhr.", "mevr."),
}  # fmt: skip
# (prefixes, lengths) of each issuer's numbers
CARD_RANGES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "visa": (("4",), (16,)),
    "mastercard": (("51", "52", "53", "54", "55"), (16,)),
    "mastercard_2series": (tuple(str(i) for i in range(2221, 2721)), (16,)),
    "amex": (("34", "37"), (15,)),
    "discover": (("6011", "644", "645", "646", "647", "648", "649", "65"), (16,)),
    "jcb": (tuple(str(i) for i in range(3528, 3590)), (16,)),
    "diners": (("36", "38", "300", "301", "302", "303", "304", "305"), (14,)),
    "unionpay": (("62",), (16, 19)),
    "maestro": (("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"), (16, 19)),
}
CARD_GROUPS = {14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}
# BBAN layout per country: n digits, a capital letters, c letters or digits
IBAN_LAYOUTS = {
    "DE": "18n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n", "GB": "4a14n", "PL": "24n",
    "SE": "20n", "BR": "23n1a1c", "PT": "21n", "IE": "4a14n", "FI": "14n", "DK": "14n", "NO": "11n", "CZ": "20n",
    "RO": "4a16c", "TR": "5n1n16c", "HR": "17n", "BE": "12n", "AT": "16n", "CH": "5n12c",
}  # fmt: skip
EMAIL_STYLES = ("name_dot", "name_initial", "faker", "company", "plus", "mixed_case")
PLACEHOLDER = re.compile(r"\$\{(\w+)(?::(\w+))?(?:\.(\d))?\}")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _luhn_complete(partial: str) -> str:
    """`partial` with the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if luhn_valid(partial + check):
            return partial + check
    raise AssertionError("unreachable")


def iban_valid(iban: str) -> bool:
    compact = iban.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return compact[:2].isalpha() and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded) or "user"


@dataclass
class _Value:
    text: str
    entity: str | None  # None: a distractor
    variant: str
    prefix: str = ""  # literal text before the span (a title)


@dataclass
class _Person:
    first: str
    last: str
    title: str
    second_first: str
    second_last: str
    hyphen_first: bool
    source: str


class _Filler:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for locale in (*LOCALES, *MORE_NAME_LOCALES):
            fake = Faker(locale)
            fake.seed_instance(f"{seed}-{locale}")
            self.fakers[locale] = fake
        self.cities = {loc: self._city_list(loc) for loc in self.fakers}

    @staticmethod
    def _city_list(locale: str) -> tuple[str, ...]:
        try:
            provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except ImportError:
            return ()
        return tuple(getattr(provider, "cities", ()))

    # --- personal data ----------------------------------------------------------------------------

    def person(self, locale: str) -> _Person:
        fake, rng = self.fakers[locale], self.rng
        titles = EN_TITLES + LOCAL_TITLES.get(locale, ())
        if rng.random() < SHARE_HELD_OUT_NAMES:
            first, second_first = rng.sample(HELD_OUT_FIRST, 2)
            last, second_last = rng.sample(HELD_OUT_LAST, 2)
            source = "held_out"
        else:
            first, second_first = fake.first_name(), fake.first_name()
            last, second_last = fake.last_name(), fake.last_name()
            source = "faker"
        return _Person(first, last, rng.choice(titles), second_first, second_last, rng.random() < 0.5, source)

    def name(self, p: _Person, form: str) -> _Value:
        full = f"{p.first} {p.last}"
        if form == "first":
            text, prefix = p.first, ""
        elif form == "last":
            text, prefix = p.last, ""
        elif form == "first_last":
            text, prefix = full, ""
        elif form == "last_first":
            text, prefix = f"{p.last}, {p.first}", ""
        elif form == "initial_last":
            text, prefix = f"{p.first[0]}. {p.last}", ""
        elif form == "initials":
            text, prefix = f"{p.first[0]}.{p.last[0].upper()}.", ""
        elif form == "lower":
            text, prefix = full.lower(), ""
        elif form == "title_full":
            text, prefix = full, f"{p.title} "
        elif form == "title_last":
            text, prefix = p.last, f"{p.title} "
        elif form == "hyphenated":
            if p.hyphen_first and "-" not in p.first:
                text = f"{p.first}-{p.second_first} {p.last}"
            else:
                text = f"{p.first} {p.last}-{p.second_last}"
            prefix = ""
        elif form == "all_caps":
            text, prefix = full.upper(), ""
        else:
            raise ValueError(f"unknown name form {form}")
        return _Value(text, "PERSON", f"{form}:{p.source}", prefix)

    def email(self, locale: str, p: _Person) -> _Value:
        fake, rng = self.fakers[locale], self.rng
        style = rng.choice(EMAIL_STYLES)
        domain = fake.free_email_domain() if rng.random() < 0.5 else fake.domain_name()
        first, last = _ascii(p.first), _ascii(p.last)
        if style == "name_dot":
            text = f"{first}.{last}@{domain}"
        elif style == "name_initial":
            text = f"{first[0]}{last}{rng.choice(['', str(rng.randint(1, 99))])}@{domain}"
        elif style == "faker":
            text = fake.email(safe=False)
        elif style == "company":
            text = fake.company_email()
        elif style == "plus":
            text = f"{first}+{rng.choice(['billing', 'shop', 'news', 'work'])}@{domain}"
        else:
            text = f"{first.capitalize()}.{last.capitalize()}@{domain.capitalize()}"
        return _Value(text, "EMAIL_ADDRESS", style)

    def phone(self, locale: str) -> _Value:
        rng = self.rng
        region = locale.split("_")[1]
        kind = rng.choice((phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE))
        example = phonenumbers.example_number_for_type(region, kind)
        digits = phonenumbers.national_significant_number(example)
        number = example
        for _ in range(300):  # random digits after the first, until the region's metadata calls it valid
            candidate = digits[0] + "".join(rng.choice(string.digits) for _ in digits[1:])
            parsed = phonenumbers.parse(f"+{example.country_code}{candidate}")
            if phonenumbers.is_valid_number_for_region(parsed, region):
                number = parsed
                break
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        cc = f"+{number.country_code}"
        rest = intl[len(cc) :].strip()
        fmt = rng.choice(PHONE_FORMATS)
        trunk = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
        if fmt == "international_trunk" and not (trunk and national.startswith(trunk)):
            fmt = "international"  # no trunk prefix to show in this region
        if fmt == "national":
            text = national
        elif fmt in ("national_dashes", "national_dots"):
            sep = "-" if fmt == "national_dashes" else "."
            text = re.sub(r"[\s()\-]+", sep, national).strip(sep)
        elif fmt == "national_compact":
            text = re.sub(r"\D", "", national)
        elif fmt == "international":
            text = intl
        elif fmt == "international_compact":
            text = e164
        elif fmt == "international_dashes":
            text = cc + "-" + re.sub(r"[\s()\-]+", "-", rest)
        elif fmt == "international_parens":
            split = re.match(r"(\d+)[\s\-](.+)", rest)
            text = f"{cc} ({split.group(1)}) {split.group(2)}" if split else intl
        elif fmt == "international_trunk":
            text = f"{cc} ({trunk}){rest}"
        else:
            text = "00" + intl[1:]
        variant = f"{region}:{fmt}"
        if rng.random() < 0.15:
            style = rng.choice(PHONE_EXTENSIONS)
            number_part = str(rng.randint(1, 9999))
            text += f" x{number_part}" if style == "x" else f" {style} {number_part}"
            variant += f":{style}"
        return _Value(text, "PHONE_NUMBER", variant)

    def card(self) -> _Value:
        rng = self.rng
        issuer = rng.choice(CARD_ISSUERS)
        prefixes, lengths = CARD_RANGES[issuer]
        prefix, length = rng.choice(prefixes), rng.choice(lengths)
        body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
        digits = _luhn_complete(body)
        grouping = rng.choice(CARD_GROUPINGS)
        if grouping == "none":
            text = digits
        else:
            groups, position = [], 0
            for size in CARD_GROUPS[length]:
                groups.append(digits[position : position + size])
                position += size
            text = (" " if grouping == "spaces" else "-").join(groups)
        return _Value(text, "CREDIT_CARD", f"{issuer}:{grouping}")

    def iban(self, locale: str) -> _Value:
        rng = self.rng
        country = locale.split("_")[1]
        if country not in IBAN_LAYOUTS:
            country = rng.choice(sorted(IBAN_LAYOUTS))
        bban = ""
        for count, kind in re.findall(r"(\d+)([nac])", IBAN_LAYOUTS[country]):
            alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
            bban += "".join(rng.choice(alphabet[kind]) for _ in range(int(count)))
        rearranged = bban + country + "00"
        check = 98 - int("".join(str(int(c, 36)) for c in rearranged)) % 97
        compact = f"{country}{check:02d}{bban}"
        grouped = rng.random() < 0.5
        text = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if grouped else compact
        return _Value(text, "IBAN_CODE", f"{country}:{'grouped' if grouped else 'compact'}")

    def ip(self) -> _Value:
        fake = self.fakers["en_US"]
        variant = self.rng.choice(("v4_public", "v4_private", "v6"))
        text = {"v4_public": fake.ipv4_public, "v4_private": fake.ipv4_private, "v6": fake.ipv6}[variant]()
        return _Value(text, "IP_ADDRESS", variant)

    def ssn(self) -> _Value:
        ssn = self.fakers["en_US"].ssn()
        variant = self.rng.choices(("dashes", "spaces", "compact"), weights=(70, 15, 15))[0]
        text = {"dashes": ssn, "spaces": ssn.replace("-", " "), "compact": ssn.replace("-", "")}[variant]
        return _Value(text, "US_SSN", variant)

    def city(self, locale: str) -> _Value:
        cities = self.cities.get(locale) or ()
        if cities and self.rng.random() < 0.5:
            return _Value(self.rng.choice(cities), "LOCATION", "city")
        return _Value(self.fakers["en_US"].location_on_land()[2], "LOCATION", "city")

    def country(self) -> _Value:
        # as people write it: "Antarctica", not "Antarctica (the territory South of 60 deg S)"
        name = re.sub(r"\s*\(.*?\)", "", self.fakers["en_US"].country())
        return _Value(name, "LOCATION", "country")

    def address(self, locale: str, *, full: bool) -> _Value:
        fake = self.fakers[locale]
        raw = fake.address() if full else fake.street_address()
        text = re.sub(r"\s*\n\s*", ", ", raw.strip())
        text = re.sub(r"\s{2,}", " ", text)
        region = "us" if locale == "en_US" else "intl"
        return _Value(text, "STREET_ADDRESS", f"{region}_{'full' if full else 'street'}")

    def org(self, locale: str) -> _Value:
        return _Value(self.fakers[locale].company(), "ORGANIZATION", "company")

    # --- distractors: look like personal data, are not -------------------------------------------

    def _moment(self) -> dt.datetime:
        start = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
        return start + dt.timedelta(seconds=self.rng.randint(0, 8 * 365 * 86400))

    def _luhn_id(self) -> str:
        length = self.rng.choice((12, 13, 14, 15, 16, 16, 16, 17, 18, 19))
        body = self.rng.choice("123456789") + "".join(self.rng.choice(string.digits) for _ in range(length - 2))
        return _luhn_complete(body)

    def distractor(self, kind: str) -> _Value:
        rng = self.rng
        r = rng.randint
        letters = string.ascii_uppercase
        if kind == "order":
            text = rng.choice(
                (
                    f"#{r(10_000, 9_999_999)}",
                    f"ORD-{r(10**6, 10**8 - 1)}",
                    f"{r(100, 999)}-{r(10**6, 10**7 - 1)}-{r(10**6, 10**7 - 1)}",
                    f"{rng.choice(letters)}{rng.choice(letters)}{r(10**5, 10**6 - 1)}",
                    f"{r(2019, 2026)}-{r(10**5, 10**6 - 1)}",
                )
            )
        elif kind == "ts":
            moment = self._moment()
            text = rng.choice(
                (
                    moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{r(0, 999):03d}+01:00",
                    moment.strftime("%Y-%m-%d %H:%M:%S"),
                    str(int(moment.timestamp())),
                    str(int(moment.timestamp()) * 1000 + r(0, 999)),
                    moment.strftime("%H:%M"),
                    moment.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                )
            )
        elif kind == "version":
            a, b, c = r(0, 12), r(0, 30), r(0, 40)
            text = rng.choice(
                (
                    f"v{a}.{b}.{c}",
                    f"{a}.{b}.{c}",
                    f"{a}.{b}.{c}-beta.{r(1, 9)}",
                    f"v{a}.{b}",
                    f"{a}.{b}.{c}.{r(1000, 9999)}",
                )
            )
        elif kind in ("luhn_id", "luhn_num"):
            text = self._luhn_id()
        elif kind == "tracking":
            digits = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
            usps = "94" + digits(20)
            fedex = digits(12)
            text = rng.choice(
                (
                    "1Z" + "".join(rng.choice(letters + string.digits) for _ in range(6)) + digits(10),
                    usps,
                    " ".join(usps[i : i + 4] for i in range(0, 22, 4)),
                    fedex,
                    f"{fedex[:4]} {fedex[4:8]} {fedex[8:]}",
                    digits(10),
                    f"{rng.choice(letters)}{rng.choice(letters)}{digits(9)}GB",
                )
            )
        elif kind == "date":
            moment = self._moment()
            text = rng.choice(
                (
                    moment.strftime("%Y-%m-%d"),
                    moment.strftime("%d/%m/%Y"),
                    moment.strftime("%m/%d/%Y"),
                    moment.strftime("%d.%m.%Y"),
                    moment.strftime("%B %d, %Y"),
                    moment.strftime("%d %b %Y"),
                )
            )
        elif kind == "amount":
            whole, cents = r(1, 25_000), r(0, 99)
            text = rng.choice(
                (
                    f"${whole:,}.{cents:02d}",
                    f"€{whole},{cents:02d}",
                    f"{whole:,}.{cents:02d} EUR".replace(",", " "),
                    f"£{whole}",
                    f"R$ {whole},{cents:02d}",
                    f"{whole} kr",
                    f"PLN {whole}.{cents:02d}",
                )
            )
        elif kind == "sku":
            text = rng.choice(
                (
                    f"SKU-{r(1000, 9999)}-{rng.choice(['BLK', 'WHT', 'RED'])}-{rng.choice(['S', 'M', 'XL'])}",
                    f"{rng.choice(letters)}{rng.choice(letters)}-{r(10, 99)}-{r(1000, 9999)}",
                    f"SKU {r(100, 999)}-{r(1000, 9999)}-{r(100, 999)}",
                    f"P/N {r(100, 999)}-{r(1000, 9999)}-{r(10, 99)}",
                )
            )
        elif kind == "ticket":
            text = rng.choice(
                (
                    f"INC{r(0, 9_999_999):07d}",
                    f"#{r(10_000, 99_999)}",
                    f"CASE-{r(0, 99_999_999):08d}",
                    f"{rng.choice(['OPS', 'SUP', 'BILL', 'CX'])}-{r(1, 99_999)}",
                )
            )
        elif kind == "uuid":
            text = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        else:
            raise ValueError(f"unknown distractor {kind}")
        return _Value(text, None, kind)


def _fill(filler: _Filler, kind: str, template: str, locale: str) -> Example:
    people: dict[int, _Person] = {}

    def person(index: int) -> _Person:
        if index not in people:
            people[index] = filler.person(locale)
        return people[index]

    makers: dict[str, Callable[[str, int], _Value]] = {
        "name": lambda form, i: filler.name(person(i), filler.rng.choice(NAME_FORM_SETS[form or "name"])),
        "email": lambda form, i: filler.email(locale, person(i)),
        "phone": lambda form, i: filler.phone(locale),
        "card": lambda form, i: filler.card(),
        "iban": lambda form, i: filler.iban(locale),
        "ip": lambda form, i: filler.ip(),
        "ssn": lambda form, i: filler.ssn(),
        "city": lambda form, i: filler.city(locale),
        "country": lambda form, i: filler.country(),
        "address": lambda form, i: filler.address(locale, full=True),
        "street": lambda form, i: filler.address(locale, full=False),
        "org": lambda form, i: filler.org(locale),
        **{k: (lambda form, i, k=k: filler.distractor(k)) for k in DISTRACTOR_KINDS},
    }
    parts: list[str] = []
    position = 0
    spans: list[tuple[int, int, str]] = []
    variants: list[str] = []
    distractors: list[tuple[int, int, str]] = []
    last = 0
    for match in PLACEHOLDER.finditer(template):
        literal = template[last : match.start()]
        value = makers[match.group(1)](match.group(2) or "", int(match.group(3) or 0))
        if kind == "tool_json" and re.search(r'["\\\x00-\x1f]', value.text):
            raise ValueError(f"{value.text!r} cannot go in a JSON string unescaped")
        literal += value.prefix
        parts.append(literal)
        position += len(literal)
        end = position + len(value.text)
        if value.entity is None:
            distractors.append((position, end, value.variant))
        else:
            spans.append((position, end, value.entity))
            variants.append(value.variant)
        parts.append(value.text)
        position = end
        last = match.end()
    parts.append(template[last:])
    return Example("".join(parts), spans, kind, variants, distractors, locale)


def generate(n: int, seed: int = 7) -> list[Example]:
    """`n` annotated texts, the same for the same seed (and the same Faker and phonenumbers versions)."""
    filler = _Filler(seed)
    rng = filler.rng
    kinds = sorted(TEMPLATES)
    examples = []
    for _ in range(n):
        kind = rng.choice(kinds)
        template = rng.choice(TEMPLATES[kind])
        pool = MORE_NAME_LOCALES if rng.random() < SHARE_MORE_LOCALES else LOCALES
        examples.append(_fill(filler, kind, template, rng.choice(pool)))
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="texts to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the texts here as JSON lines")
    args = parser.parse_args()
    examples = generate(args.n, args.seed)
    types = Counter(t for e in examples for *_, t in e.spans)
    kinds = Counter(e.kind for e in examples)
    decoys = Counter(k for e in examples for *_, k in e.distractors)
    print(f"{len(examples):,} texts, {sum(types.values()):,} spans, {sum(decoys.values()):,} distractors")
    print("\nspans per type")
    for entity in TYPES:
        print(f"  {entity:<16}{types[entity]:>7,}")
    print("\ntexts per kind:   " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("distractors:      " + ", ".join(f"{k} {v}" for k, v in sorted(decoys.items())))
    if args.out:
        with args.out.open("w") as f:
            for e in examples:
                f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
        print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
