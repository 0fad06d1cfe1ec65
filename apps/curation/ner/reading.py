"""What a model reads (candidate_pieces): only the words around a candidate, EDGE_WORDS on each side. A
candidate is a capitalised word (not a stop word or its contraction such as "I'm" or "Don't", a sentence
opener such as "Sure", a month or a day, a verb, adjective or adverb that is no name such as "Find",
"Applying" or "Robust" (words.describing_words), and not code such as "RateBook" or "ImageNet"), a McName
or O'Name, an all-capitals known first or last name ("SMITH"), a lower-case known first name that is no
common English word ("john", not "mark"), or a word of a caseless script (CJK, Arabic). Lower-case names
after a cue ("customer: john smith") are the cue recognizer's (apps/curation/recognizers/cues.py), so cue
words alone are no candidates.

With EDGE_WORDS 2 the model reads 196,000 of the 1,082,000 characters of the sample's 5,772 personal texts
(4 words and cue-word candidates: 363,000) and bench/pii's corpus scores the same (PERSON recall 0.940
against 0.939, LOCATION 0.906 against 0.908, at --n 1500); the NER part of a cold sample call fell from
2.5 to 1.4 ms. Leaving out capitalised verbs, adjectives and adverbs and contractions cut what the model
reads of 1,500 cold sample calls from 103,000 to 79,000 characters, with bench/pii's corpus at PERSON
recall 0.929 (0.931 before) and LOCATION 0.913 (0.910) at --n 3000. The miss: a lower-case or all-capitals
name whose words are in no name list, with no cue the cue recognizer knows ("refund zorblax vrentik"); a
lower-case surname alone; a two-letter lower-case first name ("bo"); an all-capitals place or group ("VT",
"DUTCH"); a lone lower-case place ("delhi to mumbai"); a lone nationality or a place named like a verb or
adjective ("French", "Reading") with no name or cue near it; anything past the first MAX_READ_CHARS
characters the model reads of one text. The name lists are Faker's, as are bench/pii_corpus's names: its
held-out names show the honest figure.
"""

import re
from collections.abc import Iterator
from functools import cache

from apps.curation.ner.words import (
    CUES,
    OPENERS,
    WORD,
    contraction_base,
    english_words,
    is_describing,
    name_lists,
    stop_words,
)

EDGE_WORDS = 2
# The most characters of one text the model reads (about 5 s of CPU for dense text): past them, a huge
# text is left to the patterns and the name recognizer.
MAX_READ_CHARS = 300_000
_CAPS_RUN = re.compile(r"[A-Z]{2}")
# A capital after a lower-case letter: code ("RateBook", "ImageNet"), unless after a surname prefix.
_INNER_CAPITAL = re.compile(r"^(?!Mc|Mac|De|Di|Da|Du|La|Le|Van|Von|Fitz|St)[A-Z]\w*[a-z][A-Z]")
# Where a long text is cut, best first: a line break, a sentence end, any whitespace.
CUTS = (re.compile(r".*\n", re.S), re.compile(r".*[.!?]\s", re.S), re.compile(r".*\s", re.S))


@cache
def _candidate_words() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(capitalised words that are no candidates, all-capitals words that are, lower-case words that are).
    In lower case only a known first name that is no common English word is a candidate: a lower-case
    name after a cue word is the cue recognizer's ("customer: john smith")."""
    first, last = name_lists()
    return (stop_words() | OPENERS) - CUES, first | last, first - english_words()


def _is_candidate(word: str) -> bool:
    not_capitalised, capitals, lower_case = _candidate_words()
    initial = word[0]
    if initial.isupper():
        if word[1:].islower():  # "Maria"; not "The", "Sure", "I'm", "Don't", "Find", "Applying", "Robust"
            low = contraction_base(word).lower()
            return low not in not_capitalised and not is_describing(low)
        if word.isupper():  # "MARIA", "SMITH"; not "API", "SELECT"
            return word.lower() in capitals
        # "McDonald", "O'Brien"; not "COURSEalias" or "RateBook" (code)
        return not _CAPS_RUN.search(word) and not _INNER_CAPITAL.match(word)
    if initial.islower():  # a first name ("john's"), a cue word; not a surname that is a word ("price")
        return len(word) > 2 and re.sub(r"['\u2019]s$", "", word) in lower_case
    return initial.isalpha()  # a caseless script (CJK, Arabic, Hebrew, ...): the case signal is absent


def candidate_pieces(text: str, edge: int = EDGE_WORDS) -> list[tuple[int, int]]:
    """(start, end) of the parts of a text worth an NER model's reading: each candidate word (see the
    module's docstring) with `edge` words either side, overlapping parts merged."""
    words = [(m.start(), m.end()) for m in WORD.finditer(text)]
    pieces: list[list[int]] = []
    for i, (start, end) in enumerate(words):
        if not _is_candidate(text[start:end]):
            continue
        # From the end of the word before the first to the start of the word after the last: the punctuation
        # and line breaks around a name are part of what the model reads.
        low = words[i - edge - 1][1] if i > edge else 0
        high = words[i + edge + 1][0] if i + edge + 1 < len(words) else len(text)
        if pieces and low <= pieces[-1][1] + 1:
            pieces[-1][1] = max(pieces[-1][1], high)
        else:
            pieces.append([low, high])
    return [(low, high) for low, high in pieces]


def chunks(text: str, size: int) -> Iterator[tuple[int, str]]:
    """(offset, piece) for pieces of at most `size` characters, cut at a line, sentence or word boundary."""
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[start:end]
            cut = next((m.end() for m in (c.match(window) for c in CUTS) if m and m.end() > size // 2), size)
            end = start + cut
        if text[start:end].strip():
            yield start, text[start:end]
        start = end


def pieces_to_read(text: str, size: int) -> list[tuple[int, str]]:
    """(offset, piece) of what the model reads of a text: its candidate pieces, up to MAX_READ_CHARS in
    all, each cut to at most `size` characters."""
    pieces: list[tuple[int, str]] = []
    budget = MAX_READ_CHARS
    for low, high in candidate_pieces(text):
        if budget <= 0:
            break
        high = min(high, low + budget)
        budget -= high - low
        pieces += [(low + offset, chunk) for offset, chunk in chunks(text[low:high], size)]
    return pieces
