"""Offline PII detection and redaction: pattern recognizers (apps/curation/recognizers, presidio's
where a format is fixed, our own for cards, phone numbers, addresses, secrets and person names) run
directly, without spaCy.

Pure functions and classes, no database: ingestion, re-scans and the PII benchmark share them.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

from apps.curation.recognizers import (
    NAME_LOCALES,
    PHONE_REGIONS,
    SECRET_FIELD,
    BoundedEmailRecognizer,
    CardRecognizer,
    Crypto,
    Iban,
    IpAddress,
    PersonNameRecognizer,
    PhoneNumberRecognizer,
    SecretRecognizer,
    StreetAddressRecognizer,
    UsSsn,
    UsZipCodeRecognizer,
    _name_lists,
)

# The entity types the pattern engine finds; a project's policy can switch each on or off.
ENTITY_TYPES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "CRYPTO",
    "PERSON", "SECRET", "STREET_ADDRESS", "US_ZIP_CODE",
)  # fmt: skip
# Off unless a policy switches them on: they catch less reliably and a street or a ZIP code alone
# says less about a person.
OFF_BY_DEFAULT_TYPES = ("STREET_ADDRESS", "US_ZIP_CODE")
DEFAULT_ENTITY_TYPES = tuple(e for e in ENTITY_TYPES if e not in OFF_BY_DEFAULT_TYPES)
DEFAULT_THRESHOLD = 0.4

__all__ = [
    "DEFAULT_ENTITY_TYPES",
    "DEFAULT_THRESHOLD",
    "ENTITY_TYPES",
    "NAME_LOCALES",
    "OFF_BY_DEFAULT_TYPES",
    "PHONE_REGIONS",
    "SECRET_FIELD",
    "Finding",
    "PatternEngine",
    "PersonNameRecognizer",
    "_name_lists",
    "_resolve",
    "build_engine",
]


class PatternEngine:
    """presidio's pattern recognizers, called directly. AnalyzerEngine would first tokenise every
    string with spaCy only to find context words; here a context word among the five words before a
    finding raises its score by 0.35 (to at least 0.4), as presidio's LemmaContextAwareEnhancer does.
    (The card and phone recognizers read their context themselves, for and against, and declare none.)

    A recognizer made of patterns alone is asked only when one of its patterns is in the text: most texts
    hold none, and presidio's own loop costs more than the search even then (two clock readings and a log
    call a pattern). Each pattern is searched for on its own (joined into one alternation, the IP patterns
    took three times as long), with the flags presidio compiles it with, so nothing is missed."""

    CONTEXT_BOOST, CONTEXT_MIN, CONTEXT_WORDS = 0.35, 0.4, 5

    def __init__(self, recognizers: list[EntityRecognizer]) -> None:
        self.recognizers = recognizers
        self.gates = {id(r): gate for r in recognizers if (gate := _patterns(r))}

    def analyze(self, text: str, entities: Iterable[str]) -> list[RecognizerResult]:
        wanted = set(entities)
        results: list[RecognizerResult] = []
        for recognizer in self.recognizers:
            mine = [e for e in recognizer.supported_entities if e in wanted]
            if not mine:
                continue
            gate = self.gates.get(id(recognizer))
            if gate is not None and not any(pattern.search(text) for pattern in gate):
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


def _patterns(recognizer: EntityRecognizer) -> list[regex.Pattern[str]]:
    """A pattern recognizer's patterns, compiled as presidio compiles them; none for a recognizer that finds
    more than its patterns do (its own analyze)."""
    if not isinstance(recognizer, PatternRecognizer) or type(recognizer).analyze is not PatternRecognizer.analyze:
        return []
    patterns: list[Pattern] = getattr(recognizer, "patterns", [])  # presidio's attribute is untyped
    return [regex.compile(p.regex, flags=recognizer.global_regex_flags) for p in patterns]


@cache
def build_engine() -> PatternEngine:
    """The pattern engine (built once per process: loading recognizers takes a moment). Person names
    are found outside it (PersonNameRecognizer), so a string with no digit, '@' or token marker
    skips it altogether."""
    return PatternEngine(
        [
            BoundedEmailRecognizer(), PhoneNumberRecognizer(), CardRecognizer(), Iban(), IpAddress(), UsSsn(),
            Crypto(), SecretRecognizer(), StreetAddressRecognizer(), UsZipCodeRecognizer(),
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
