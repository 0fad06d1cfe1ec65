"""Offline PII detection and redaction: presidio-analyzer's pattern recognizers on spaCy's blank
English tokenizer (no model download), plus recognizers of our own for what agent logs leak most:
API keys and tokens, secrets in JSON fields named like them, and person names.

Pure functions and classes, no database: ingestion, re-scans and the PII benchmark share them.
"""

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # presidio must not fetch the suffix list

from presidio_analyzer import (
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

# The entity types the default engine finds; a project's policy can switch each off.
ENTITY_TYPES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "CRYPTO",
    "PERSON", "SECRET",
)  # fmt: skip
DEFAULT_THRESHOLD = 0.4
PHONE_REGIONS = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "CA", "AU", "IE", "IN")
SECRET_FIELD = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|auth(orization)?|credential|private[_-]?key", re.I)
NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "sv_SE", "pt_BR", "pl_PL")


def _secret_recognizer() -> PatternRecognizer:
    """No pattern can fail after scanning a long run from many starts: a JWT starts only where its run
    of token characters starts ("eyJ-eyJ-..." made the \\b version quadratic), and the key header's
    words are bounded."""
    patterns = [
        Pattern("openai key", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}\b", 0.9),
        Pattern("aws access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0.9),
        Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", 0.9),
        Pattern("slack token", r"\bxox[abpors]-[A-Za-z0-9\-]{10,}\b", 0.9),
        Pattern("google api key", r"\bAIza[0-9A-Za-z_\-]{35}\b", 0.9),
        Pattern("jwt", r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b", 0.9),
        Pattern("bearer header", r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=]{16,}", 0.8),
        Pattern("private key", r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----", 0.95),
        Pattern("downshift key", r"\bds_[A-Za-z0-9_\-]{30,}\b", 0.9),
    ]
    return PatternRecognizer(supported_entity="SECRET", patterns=patterns, name="SecretTokenRecognizer")


class BoundedEmailRecognizer(EmailRecognizer):
    """presidio's e-mail pattern with every repeat bounded (a local part of at most 64 characters, as
    RFC 5321 has it, up to 17 labels of at most 63): its unbounded one took 53 s on 16,000 characters
    of "a.a.a..." and grew with the cube of the length. Same score, same validation (a known TLD)."""

    _LOCAL = r"[!#$%&'*+\-/=?^_`{|}~\w](?:[!#$%&'*+\-/=?^_`{|}~.\w]{0,62}[!#$%&'*+\-/=?^_`{|}~\w])?"
    _LABEL = r"\w{1,63}(?:-{1,8}\w{1,63}){0,8}"
    PATTERNS = [Pattern("Email (Medium)", rf"\b({_LOCAL}@{_LABEL}(?:\.{_LABEL}){{1,16}})\b", 0.5)]


class IssuerCheckedCardRecognizer(CreditCardRecognizer):
    """Luhn alone flags order numbers (113542617735902); real cards start with a known issuer digit."""

    def validate_result(self, pattern_text: str) -> bool:
        digits = re.sub(r"\D", "", pattern_text)
        if not digits or digits[0] not in "23456":
            return False
        return bool(super().validate_result(pattern_text))


class GatedPhoneRecognizer(PhoneRecognizer):
    """phonenumbers' matcher is the engine's slowest part: run it only on the runs of digits that could
    be a phone number (7 to 15 digits), each with a few characters around it, never on the whole text."""

    CANDIDATE = re.compile(r"\d[\d\s().\-/]{5,}\d")
    MARGIN = 6

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags: int | None = None
    ) -> list[RecognizerResult]:
        windows: list[list[int]] = []
        for match in self.CANDIDATE.finditer(text):
            if not 7 <= sum(c.isdigit() for c in match.group()) <= 15:
                continue
            start, end = max(0, match.start() - self.MARGIN), min(len(text), match.end() + self.MARGIN)
            if windows and start <= windows[-1][1]:
                windows[-1][1] = end
            else:
                windows.append([start, end])
        results = []
        for start, end in windows:
            for r in super().analyze(text[start:end], entities, nlp_artifacts) or []:  # type: ignore[arg-type]
                results.append(RecognizerResult(r.entity_type, r.start + start, r.end + start, r.score))
        return results


def _international_phone_recognizer() -> PatternRecognizer:
    pattern = Pattern("e164-ish", r"(?<![\w+])\+\d{1,3}[\s.\-]?\(?\d{2,4}\)?(?:[\s.\-]?\d{2,4}){2,3}\b", 0.5)
    return PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        patterns=[pattern],
        name="InternationalPhoneRecognizer",
        context=["phone", "call", "mobile", "tel", "number", "reach"],
    )


@cache
def _name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names from Faker's locales; read once."""
    import importlib

    first: set[str] = set()
    last: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr, bucket in (("first_names", first), ("last_names", last)):
            names = getattr(provider, attr, ())
            bucket.update(n for n in names if n[:1].isupper() and len(n) > 1)
    return frozenset(first), frozenset(last)


class PersonNameRecognizer(EntityRecognizer):
    """A known first name followed by a capitalised word: "Samuel Lindqvist", "Diego Fischer's".
    A context word ("regards", "name", ...) shortly before raises the score."""

    PAIR = re.compile(r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\s+([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?|[A-Z]{2,}(?![a-z]))\b")
    NOT_SURNAMES = frozenset({"I", "The", "And", "Or", "But", "If", "My", "Your", "Our", "Please", "Thanks", "Thank"})

    def __init__(self) -> None:
        super().__init__(
            supported_entities=["PERSON"],
            name="PersonNameRecognizer",
            context=[
                "name",
                "regards",
                "thanks",
                "sincerely",
                "holder",
                "from",
                "dear",
                "hi",
                "hello",
                "signed",
                "contact",
            ],
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        first, last = _name_lists()
        results = []
        for match in self.PAIR.finditer(text):
            given, family = match.group(1), match.group(2)
            if given not in first or family in self.NOT_SURNAMES or family.upper() == family:
                continue
            score = 0.85 if family in last else 0.6
            before = text[max(0, match.start() - 40) : match.start()].lower()
            if any(word in self.context for word in re.findall(r"[a-z]+", before)):
                score = min(score + 0.3, 1.0)
            results.append(RecognizerResult("PERSON", match.start(), match.end(), score))
        return results


class PatternEngine:
    """presidio's pattern recognizers, called directly. AnalyzerEngine would first tokenise every
    string with spaCy only to find context words; here a context word among the five words before a
    finding raises its score by 0.35 (to at least 0.4), as presidio's LemmaContextAwareEnhancer does."""

    CONTEXT_BOOST, CONTEXT_MIN, CONTEXT_WORDS = 0.35, 0.4, 5

    def __init__(self, recognizers: list[EntityRecognizer]) -> None:
        self.recognizers = recognizers

    def analyze(self, text: str, entities: Iterable[str]) -> list[RecognizerResult]:
        wanted = set(entities)
        results: list[RecognizerResult] = []
        for recognizer in self.recognizers:
            mine = [e for e in recognizer.supported_entities if e in wanted]
            if not mine:
                continue
            for result in recognizer.analyze(text, mine, None) or []:  # type: ignore[arg-type]
                if result.score <= 0:  # failed its validation (Luhn, checksum)
                    continue
                if recognizer.context and self._has_context(text, result.start, recognizer.context):
                    result.score = min(max(result.score + self.CONTEXT_BOOST, self.CONTEXT_MIN), 1.0)
                results.append(result)
        return results

    def _has_context(self, text: str, start: int, context: list[str]) -> bool:
        before = re.findall(r"[a-z]+", text[max(0, start - 60) : start].lower())[-self.CONTEXT_WORDS :]
        return any(word.startswith(c) for word in before for c in context)


@cache
def build_engine() -> PatternEngine:
    """The pattern engine (built once per process: loading recognizers takes a moment). Person names
    are found outside it (PersonNameRecognizer), so a string with no digit, '@' or token marker
    skips it altogether."""
    return PatternEngine(
        [
            BoundedEmailRecognizer(), GatedPhoneRecognizer(supported_regions=PHONE_REGIONS),
            _international_phone_recognizer(), IssuerCheckedCardRecognizer(),
            IbanRecognizer(), IpRecognizer(), UsSsnRecognizer(), CryptoRecognizer(), _secret_recognizer(),
        ]
    )  # fmt: skip


@dataclass(frozen=True)
class Finding:
    entity_type: str
    start: int
    end: int
    score: float


def _resolve(results: Iterable[RecognizerResult]) -> list[Finding]:
    """Keep the strongest of overlapping findings (an email beats the URL inside it), in text order.
    The characters already taken are marked, so the cost is the findings' total length (comparing
    each finding with every one chosen before took minutes on a text with 100,000 findings)."""
    ranked = sorted(results, key=lambda r: (-r.score, -(r.end - r.start)))
    taken = bytearray(max((r.end for r in ranked), default=0))
    chosen: list[Finding] = []
    for r in ranked:
        if r.end > r.start and taken.find(1, r.start, r.end) == -1:
            taken[r.start : r.end] = b"\x01" * (r.end - r.start)
            chosen.append(Finding(r.entity_type, r.start, r.end, r.score))
    return sorted(chosen, key=lambda f: f.start)
