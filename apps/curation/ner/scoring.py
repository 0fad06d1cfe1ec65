"""Types and scores (presidio's way): spaCy gives no confidence, so a finding scores SPACY_SCORE (a
transformers model's own score otherwise). The small model often calls a person an organisation, and
organisations are off by default, so _retype turns such a finding into a person (or, under a JSON key
naming a place, a place). A finding that cannot be a name (a digit or a code character in it: "Order
KC999313") is dropped; one that does not look like a name (camelCase such as "ReLU", all lower case or
all capitals unless made of known names, a greeting or a weekday) scores WEAK_SCORE, under the default
threshold. A cue word of the finding's type among the CONTEXT_BEFORE words before it, the CONTEXT_AFTER
after it or its JSON key raises the score by CONTEXT_BOOST, to at least CONTEXT_MIN, as presidio's
LemmaContextAwareEnhancer does (on word forms, not lemmas): a weak finding passes the default threshold
only with a cue word of its type near it.
"""

import re
from collections.abc import Iterable

from presidio_analyzer import RecognizerResult

from apps.curation.ner.words import CONTEXT, CUES, OPENERS, WORD, name_lists

NER_ENTITIES = ("PERSON", "LOCATION", "NRP", "ORGANIZATION")
LABELS = {
    "PERSON": "PERSON", "PER": "PERSON",
    "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION", "LOCATION": "LOCATION",
    "NORP": "NRP", "NRP": "NRP",
    "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION",
}  # fmt: skip
WEAK_SCORE = 0.3
CONTEXT_BOOST, CONTEXT_MIN, CONTEXT_BEFORE, CONTEXT_AFTER = 0.35, 0.4, 5, 2
_NOT_A_NAME = re.compile(r"[\d@#_/\\=<>{}\[\]|*]")
_CAMEL = re.compile(r"\b[a-z]+[A-Z]")
_CODE_WORD = re.compile(r"\b(?=\w*[a-z])\w*[A-Z]{2}|\b\w*[A-Z]{2}\w*[a-z]")  # "ReLU", "BigGAN", "OpenAI"


def entity_type(label: str) -> str | None:
    """Our entity type for a model's label ("B-PER" and "PER" alike), None for labels we do not use."""
    return LABELS.get(label.split("-", 1)[-1].upper())


# Words that make a span an organisation whatever names are in it ("Smith & Sons Ltd").
# Words that make a span an organisation: company words and legal forms of many countries.
_ORG_WORDS = CONTEXT["ORGANIZATION"] | frozenset(
    "group sons partners partner associates holding holdings industries corporation incorporated limited "
    "company co plc llp lp pty pvt ltda eireli ag kg ohg ug ev gmbh mbh sa sas sarl sasu sca snc spa srl sl slu "
    "coop bv nv vof ab hb kb oy oyj osk as asa aps sp zoo spk sc fundacja stiftung fondation foundation fundación "
    "fundação verein".split()
)
_JOINED = re.compile(r"\s(?:&|and|und|et|och|og)\s")  # "Martel & Brumleve", "Smith and Sons"
# Words the model takes for a name at the start of a line: greetings, sign-offs, days.
_NOT_NAMES = frozenset("cheers regards thanks best drop mon tue wed thu fri sat sun".split())


def key_context(key: str) -> str:
    """The cue words in a JSON key ("customerName" -> "customer name"): context for the value under it."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", key).lower())
    if any(w not in CUES for w in words):  # "file_name", "product_name": not a person's
        words = [w for w in words if w not in ("name", "names")]
    return " ".join(w for w in words if w in CUES or w in CONTEXT["ORGANIZATION"])


def _cue_types(text: str, start: int, end: int, context: str) -> set[str]:
    """The types whose cue words are among the CONTEXT_BEFORE words before a span, the CONTEXT_AFTER
    words after it, or the context (a JSON key's words)."""
    before = WORD.findall(text[max(0, start - 80) : start])[-CONTEXT_BEFORE:]
    after = WORD.findall(text[end : end + 40])[:CONTEXT_AFTER]
    words = {w.lower() for w in before + after} | set(context.split())
    return {entity for entity, cues in CONTEXT.items() if words & cues}


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Leave a leading cue word out of a span ("Customer J. R. Okafor" -> "J. R. Okafor")."""
    first = WORD.match(text, start)
    if first and first.group().lower() in CONTEXT["PERSON"]:
        rest = WORD.search(text, first.end(), end)
        if rest:
            return rest.start(), end
    return start, end


def _base_score(entity: str, span: str, score: float) -> float:
    """The model's score; 0 (dropped, whatever the context) for a span that cannot be a name, with a digit
    or a code character in it ("Order KC999313", "P/N") or a single character; WEAK_SCORE for one that
    does not look like a name: camelCase ("eyJ", "ReLU"), a greeting or weekday, all lower case ("west
    region") or all capitals, unless it is a person made of known names ("john smith", "JOHN SMITH")."""
    span = span.strip()
    if len(span) < 2 or _NOT_A_NAME.search(span) or not any(c.isalpha() for c in span):
        return 0.0
    if _CAMEL.search(span) or _CODE_WORD.search(span) or span.lower().strip(".,!") in _NOT_NAMES | OPENERS:
        return min(score, WEAK_SCORE)
    if (span.islower() or (span.isupper() and len(span) > 1)) and not (entity == "PERSON" and _is_person_name(span)):
        return min(score, WEAK_SCORE)
    return score


def _is_organisation(span: str) -> bool:
    return bool(_JOINED.search(span)) or any(w.lower() in _ORG_WORDS for w in WORD.findall(span))


def _is_person_name(span: str) -> bool:
    """Every word a known first or last name, one of them a first name (or a lone surname), no company word."""
    first, last = name_lists()
    words = [w.lower() for w in WORD.findall(span)]
    if not words or any(w in _ORG_WORDS for w in words):
        return False
    return all(w in first or w in last for w in words) and (len(words) == 1 or any(w in first for w in words))


def _retype(entity: str, span: str, cues: set[str], key_cues: set[str]) -> str:
    """The small model often calls a person an organisation ("Tanaka", "Anna-Lena Bergström"), or a place
    alone in a JSON value ({"city": "Oslo"}), and organisations are off by default. An "organisation" with
    a person's cue word near it (and no company word), or made of known names, is a person; one under a JSON
    key that names a place is a place. A company word or legal form in a span ("Söderlund HB", "Martel &
    Brumleve") makes it an organisation, a "person" too."""
    if entity not in ("ORGANIZATION", "PERSON"):
        return entity
    if _is_organisation(span):
        return "ORGANIZATION"
    if entity == "PERSON" or "ORGANIZATION" in cues:
        return entity
    if "PERSON" in cues:
        return "PERSON"
    if "LOCATION" in key_cues:
        return "LOCATION"
    return "PERSON" if _is_person_name(span) else entity


def _boost(result: RecognizerResult, cues: set[str]) -> None:
    if result.entity_type in cues:
        result.score = min(max(result.score + CONTEXT_BOOST, CONTEXT_MIN), 1.0)


def context_boost(text: str, results: Iterable[RecognizerResult], context: str = "") -> None:
    """Raise the score of each finding with a cue word of its type near it (in place)."""
    for r in results:
        _boost(r, _cue_types(text, r.start, r.end, context))


def finding(
    text: str, start: int, end: int, label: str, score: float, context: str, wanted: set[str]
) -> RecognizerResult | None:
    """A model's span as a finding of one of the `wanted` types, trimmed, typed, scored and
    context-enhanced; None when it is none of them or cannot be a name."""
    entity = entity_type(label)
    if entity is None:
        return None
    start, end = _trim(text, start, end)
    cues = _cue_types(text, start, end, context)
    key_cues = {t for t, words in CONTEXT.items() if words & set(context.split())}
    span = text[start:end]
    entity = _retype(entity, span, cues, key_cues)
    score = _base_score(entity, span, score)
    if entity not in wanted or score <= 0:
        return None
    result = RecognizerResult(entity, start, end, score)
    _boost(result, cues)
    return result
