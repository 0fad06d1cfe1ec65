"""The pattern-only engine's person-name rule."""

import importlib
import re
from functools import cache

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "sv_SE", "pt_BR", "pl_PL")


@cache
def _name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names from Faker's locales; read once."""
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
    A context word ("regards", "name", ...) shortly before raises the score.

    The fallback for the pattern-only engine; an NER model is the default for PERSON. The rule was
    fitted to the shipped sample and does not generalise: on an independent set it removed a fifth of
    the names. Known misses: a first name alone ("thanks, Maria") or a surname alone ("Mr Okafor");
    "Last, First" and initials ("J. Smith", "Smith J."); names in lower or upper case ("maria garcia",
    "MARIA GARCIA"); first names missing from Faker's lists for ten European locales (most Asian,
    African and Arabic names, and rare spellings); titles without a known first name ("Dr Alvarez").
    Known false positives: a first name that is also a word, followed by a capitalised word ("May Sales",
    "Grace Period")."""

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
