"""Names and places told by the words around them (their cues), in any case and with initials.

An NER model reads a capitalised word in running text well; it misses what people write in forms,
greetings, signatures and log lines, where the words around a value say what it is far better than
the value itself: "Name on card: OLAF WOWRA", "Recipient: robyn chen", "Dear Mme Souza,", "Cheers,
Noor", "- E.K.", "lookup_customer(name='SISSEL DANIELSEN')", "City: Muhos", "-> Calw, Chad". This
recognizer finds:

PERSON
- a labelled value: a label that names a person (PERSON_LABELS: "Customer:", "Name on card:", "Full
  name |", "Applicant -", "Ship to:", "name='...'") and the name after it, in any case, up to four
  words, initials included, "Last, First" whole;
- a name after a title (TITLES: Mr, Mrs, Dr, Prof, Herr, Frau, M., Mme, Sr., Sra., Sig., Dott., Pan,
  Pani, dhr., mevr., ...), a greeting (GREETINGS: Dear, Hi, Hallo, Bonjour, Hola, Ciao, Hej, ...) or a
  self-introduction ("my name is", "this is", "I'm");
- the line after a sign-off (SIGN_OFFS: "Regards,", "Cheers,", "--") when it holds only a name, and
  a dash signature at a line's end ("... the old one. - E.K.");
- initials ("J.E.", "A.T.") and an initial with a surname ("M. Parra") anywhere, but common
  abbreviations (U.S., A.M., P.S., ...);
- a first name from Faker's lists (every locale) followed by a known last name, in lower case or in
  capitals ("robyn chen", "OLAF WOWRA"), but first names that are common English words ("mark",
  "grace") and stop words.
LOCATION
- a labelled value ("City:", "Country |", "city='...'"), a place after words that say one follows
  ("lives in", "based in", "moved to", "born in", "travelling in", "depot in"), a country's English
  name (Faker's list, with common short forms), and the town before ", Country".

Values in lower case count only after a label or with a known first name: "hi there" and "this is
urgent" are no names. Known misses: a name with no cue and no capital (the NER model's part: "refund
zorblax vrentik"); a label not in the lists ("Leiter:", "Ansprechpartner:"); a greeting or title in a
language not listed; a lower-case name after a greeting whose first word is in no list; a town with no
cue and no country after it. Known false positives: a capitalised word that is no name after a greeting
or an introduction ("This is Microsoft support"); a dotted abbreviation not in the list ("R.S."); a
country that is a word or a name ("Turkey", "Chad", "Jordan": personal data either way in most texts).
"""

import re
from collections.abc import Callable, Iterator
from functools import cache

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from apps.curation.ner.words import CONTEXT, OPENERS, english_words, name_lists, stop_words

LABEL_SCORE, CUE_SCORE, WEAK_SCORE = 0.85, 0.7, 0.5

# One word of a name: letters with inner hyphens or apostrophes ("Anne-Marie", "O'Brien"), or 1-3
# initials ("J.", "J.E.").
_TOKEN = r"(?:[^\W\d_]\.){1,3}(?![^\W\d_])|[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*"
# Up to six words, and "Last, First" when the line or field ends after the first name.
_VALUE = (
    rf"(?:{_TOKEN})(?:[ \t]+(?:{_TOKEN})){{0,5}}"
    rf"(?:,[ \t]*(?:{_TOKEN})(?:[ \t]+(?:{_TOKEN}))?(?=[ \t]*(?:$|[\"'<(|;\r\n])))?"
)
_WORDS = re.compile(_TOKEN)
_INITIALS = re.compile(r"(?:[^\W\d_]\.){1,3}")

# Labels that name a person's role: the value after them is a name in any case ("Recipient: robyn chen").
PERSON_LABELS = (
    r"(?:full|first|last|middle|given|family|maiden|legal|display|customer|contact|client|patient|guest|"
    r"passenger|account|holder|your|my)[ _]?name(?:[ _]on[ _](?:the[ _])?card)?|name[ _]on[ _](?:the[ _])?card|"
    r"surname|forename|customer|client|contact[ _]person|emergency[ _]contact|account[ _](?:owner|holder|manager)|"
    r"card[ _]?holder|applicant|patient|passenger|guest|recipient|sender|requester|requested[ _]by|"
    r"reporter|reported[ _]by|assignee|assigned[ _]to|employee|tenant|beneficiary|payee|attendee|"
    r"ship[ _]to|bill[ _]to|deliver[ _]to|attn|attention|signed[ _]by|prepared[ _]by|caller"
)
# Labels that often name a person but not always ("Name: Widget Pro", "From: support"): capitalised
# values only.
WEAK_PERSON_LABELS = r"name|owner|holder|contact|author|driver|user|from|to"
LOCATION_LABELS = (
    r"city|town|country|village|county|province|municipality|hometown|birthplace|place[ _]of[ _]birth|"
    r"city[ _]of[ _]birth|country[ _]of[ _]birth|country[ _]of[ _]residence|destination|location"
)
# The cue patterns (labels, greetings, place words) run on the lower-cased text, case-sensitively: twice
# as fast as the same patterns with re.IGNORECASE on long texts; the value after a cue is read from the
# text as it is.
_LABEL_CUE = re.compile(
    rf"(?<![\w\-])(?:(?P<person>{PERSON_LABELS})|(?P<weak>{WEAK_PERSON_LABELS})|(?P<place>{LOCATION_LABELS}))"
    rf"(?:[ \t]*(?:[:|=]|[ \t][-\u2013][ \t])[ \t]*[\"']?|\"[ \t]*:[ \t]*\")"
)
_LABEL_VALUE = re.compile(rf"(?P<value>{_VALUE})(?![\w])")
TITLES = (
    r"Mr|Mrs|Ms|Mx|Miss|Dr|Dra|Prof|Sir|Dame|Lady|Lord|Rev|Mme|Mlle|M(?=\.)|Herr|Frau|Hr|Dhr|dhr|Mevr|mevr|Sr|Sra|"
    r"Srta|Sig|Sig\.ra|Dott|Dott\.ssa|Pan|Pani|Fru|dr"
)
_TITLED = re.compile(rf"(?<![\w.])(?:{TITLES})\.?[ \t]+(?P<value>{_VALUE})")
GREETINGS = (
    r"dear|hi|hello|hey|hallo|liebe|lieber|sehr geehrte|sehr geehrter|bonjour|salut|cher|ch[eè]re|hola|"
    r"estimad[oa]|querid[oa]|ciao|gentile|caro|cara|buongiorno|hej|hei|hall[aå]|beste|geachte|ol[aá]|oi|"
    r"prezad[oa]|cze[sś][cć]|witam|szanown[ya]|good morning|good afternoon|good evening"
)
_INTRODUCTIONS = r"my name is|my name's|name's|this is|i am|i'm|i\u2019m|call me"
_GREETING_CUE = re.compile(rf"(?<![\w])(?P<cue>{GREETINGS}|{_INTRODUCTIONS})(?=[ \t,])")
_GREETED_VALUE = re.compile(rf"[ \t,]+(?:(?:{TITLES})\.?[ \t]+)?(?P<value>{_VALUE})")
SIGN_OFFS = (
    r"regards|best regards|kind regards|warm regards|best|best wishes|cheers|thanks|thank you|many thanks|"
    r"sincerely|yours sincerely|yours truly|yours|cordialement|bien [aà] vous|mit freundlichen gr[uü](?:ß|ss)en|"
    r"viele gr[uü](?:ß|ss)e|gr[uü](?:ß|ss)e|liebe gr[uü](?:ß|ss)e|saludos|un saludo|atentamente|cordiali saluti|"
    r"saluti|distinti saluti|met vriendelijke groet|groeten|pozdrawiam|z powa[zż]aniem|med v[aä]nliga h[aä]lsningar|"
    r"h[aä]lsningar|mvh|atenciosamente|abra[cç]os|--|\u2014"
)
_SIGNED = re.compile(rf"(?im)^[ \t]*(?:{SIGN_OFFS})[ \t]*[,!.]?[ \t]*\r?\n[ \t]*(?P<value>{_VALUE})[ \t]*\.?[ \t]*\r?$")
_DASH_SIGNED = re.compile(rf"(?m)(?:^|[.!?][ \t]+)[-\u2013\u2014][ \t]*(?P<value>{_VALUE})[ \t]*$")
_BARE_INITIALS = re.compile(r"(?<![\w.])(?:[A-Z]\.){2,3}(?![\w])(?!\.?[A-Z]\.)")
_INITIAL_NAME = re.compile(
    r"(?<![\w.])(?:[A-Z]\.[ \t]?){1,2}(?P<value>[A-Z][a-z\u00df-\u00ff][^\W\d_]*(?:[-'\u2019][^\W\d_]+)?)"
    r"(?:[ \t]+(?P<more>[A-Z][a-z\u00df-\u00ff][^\W\d_]*))?"
)
_PLACE_CUE = re.compile(
    r"(?<![\w\-])(?:(?:lives?|lived|living|based|located|resides?|residing|born|grew up|moved|relocat(?:ed|ing)|"
    r"travel(?:l)?(?:ing|ed)|staying|stays|arriv(?:ed|ing)|flying|flew|depot|office|headquartered)[ \t]+"
    r"(?:in|to|at|from|near|into)|visiting)[ \t]+(?:the[ \t]+)?"
)
_PLACE_VALUE = re.compile(rf"(?P<value>{_VALUE})")


def _lower(text: str) -> str:
    """The text in lower case with every character where it was (str.lower() can lengthen a few
    characters, such as "İ"; then only ASCII letters are lowered)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _cued(
    cue: re.Pattern[str], value: re.Pattern[str], text: str, low: str
) -> Iterator[tuple[re.Match[str], re.Match[str]]]:
    """(cue, value) matches: each cue found in the lower-cased text, and the value right after it."""
    for found in cue.finditer(low):
        after = value.match(text, found.end())
        if after is not None:
            yield found, after


ABBREVIATIONS = frozenset(
    "U.S. U.K. E.U. U.N. A.M. P.M. P.S. N.B. I.E. E.G. D.C. L.A. N.Y. B.C. A.D. Q.A. O.K. T.V. U.S.A. R.I.P. "
    "N.A. M.D. B.A. M.A. B.S. M.S. P.O. R.S.V.P. F.A.Q. A.K.A. E.T.A. V.S. C.E.O. I.T. H.R. A.I.".split()
)
# Words that are no name after a greeting, label or title ("Hi team", "Dear customer", "From: support").
NOT_NAMES = frozenset(
    "team all everyone everybody there folks guys both again support sir madam friend friends colleagues "
    "customer customers client clients user users service services desk department sales billing office staff "
    "crew manager admin administrator bot assistant system unknown none null n/a tbd anonymous guest world "
    "morning afternoon evening night day week today tomorrow yesterday".split()
)
# Words a place cannot be ("Location: remote", "based in the cloud").
NOT_PLACES = frozenset(
    "remote online office home unknown none null hq onsite global worldwide cloud region zone area site "
    "building room floor the a an east west north south".split()
)
# Short forms of countries that Faker's list names otherwise.
COUNTRY_SHORT_FORMS = (
    "USA", "U.S.A.", "UK", "Great Britain", "Britain", "England", "Scotland", "Wales", "Northern Ireland",
    "Ireland", "Holland", "Netherlands", "Czechia", "Ivory Coast", "Congo", "China", "Korea", "Russia",
    "Vatican", "Burma", "Macedonia", "Micronesia", "Gambia", "Sao Tome and Principe", "Timor-Leste",
    "Eswatini", "Bosnia", "Herzegovina", "Hong Kong", "Macau", "Puerto Rico", "Greenland", "Kosovo",
)  # fmt: skip


@cache
def _countries() -> dict[str, tuple[str, ...]]:
    """Every country's English name (Faker's lists, less their mis-encoded ones, and COUNTRY_SHORT_FORMS),
    by its first word, longest names first: looked up at each capitalised word, which is far cheaper than
    one pattern of 250 names tried at every character."""
    from faker.providers.address import Provider as Base
    from faker.providers.address.en_US import Provider as English

    names = {n for n in (*English.countries, *Base.countries, *COUNTRY_SHORT_FORMS) if "\u00c3" not in n}
    by_word: dict[str, list[str]] = {}
    for name in sorted(names, key=len, reverse=True):
        by_word.setdefault(re.split(r"[ .\-]", name)[0], []).append(name)
    return {word: tuple(found) for word, found in by_word.items()}


_CAPITALISED = re.compile(r"(?<![\w.])[A-Z][\w']*")


def _country_spans(text: str) -> Iterator[tuple[int, int]]:
    countries = _countries()
    if countries.keys().isdisjoint({word.rstrip("'") for word in _CAPITALISED.findall(text)}):
        return  # most texts: no loop over their capitalised words
    for m in _CAPITALISED.finditer(text):
        for name in countries.get(m.group().rstrip("'"), ()):
            end = m.start() + len(name)
            if text.startswith(name, m.start()) and not (end < len(text) and (text[end].isalnum() or text[end] == "_")):
                yield m.start(), end
                break


# A word followed by a space or tab, not part of a longer word, name or number ("ann" in "anne-marie").
_GIVEN = re.compile(r"(?<![\w'\u2019-])[^\W\d_]+(?=[ \t])")
_NEXT_WORD = re.compile(r"[ \t]+([^\W\d_]+(?:-[^\W\d_]+)?)(?![\w'\u2019])")
_TOWN_BEFORE = re.compile(r"(?:^|[\s(>,;:])(?P<value>[A-Z][^\W\d_]*(?:[-'\u2019 ][A-Z][^\W\d_]*){0,2}),[ \t]*$")


@cache
def _vocabulary() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(first names, last names, words that are no name part: stop words, openers, cue words, NOT_NAMES).
    The name lists leave out common English words (english_words()): in lower case or capitals, "price"
    and "grace" are no sign of a name."""
    first, last = name_lists()
    cues = frozenset().union(*CONTEXT.values())
    english = english_words()
    return first - english, last - english, stop_words() | OPENERS | cues | NOT_NAMES


_JOINERS = frozenset("and of the upon on sur am an im".split())
_PARTICLES = frozenset("van von der den de del della di da das dos du la le ten ter bin ibn al el y".split())


def _name_words(value: str, start: int, *, any_case: bool, place: bool = False) -> Iterator[tuple[int, int]]:
    """(start, end) of the words of a value that make up a name: from its first word up to the first
    word that is no name part (a stop word, a cue word, a lower-case word after capitalised ones). With
    any_case False, the name's words must be capitalised (or initials)."""
    _, _, blocked = _vocabulary()
    capitalised = None
    for match in _WORDS.finditer(value):
        word = match.group()
        lower = word.lower()
        initials = bool(_INITIALS.fullmatch(word))
        if capitalised is not None and (lower in _PARTICLES or (place and lower in _JOINERS)):
            continue  # "van", "de" inside a name; "and", "of" inside a place ("Trinidad and Tobago")
        if not initials and (lower in blocked or len(word) < 2):
            return
        upper = word[0].isupper()
        if not (initials or upper or any_case):
            return
        if capitalised is None:
            capitalised = upper
        elif upper != capitalised and not initials and word.isalpha() and not word.isupper():
            return  # "Maria Lopez confirmed": the case changes where the name ends
        yield start + match.start(), start + match.end()


def _span(
    text: str, value_start: int, value_end: int, *, any_case: bool, place: bool = False
) -> tuple[int, int] | None:
    words = list(_name_words(text[value_start:value_end], value_start, any_case=any_case, place=place))
    if not words:
        return None
    return words[0][0], words[-1][1]  # "Last, First" whole: the comma lies inside


def _known_first(text: str, start: int, end: int) -> bool:
    first, _, _ = _vocabulary()
    word = _WORDS.search(text, start, end)
    return bool(word) and word.group().lower() in first  # type: ignore[union-attr]


_Add = Callable[[str, tuple[int, int] | None, float], None]


class CueRecognizer(EntityRecognizer):
    """PERSON and LOCATION by their cues (see the module's docstring for the rules and their misses)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON", "LOCATION"], name="CueRecognizer")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        person, place = "PERSON" in entities, "LOCATION" in entities

        def add(entity: str, span: tuple[int, int] | None, score: float) -> None:
            if span is not None and span[1] > span[0]:
                results.append(RecognizerResult(entity, span[0], span[1], score))

        low = _lower(text)
        for cue, m in _cued(_LABEL_CUE, _LABEL_VALUE, text, low):
            if cue.group("person") and person:
                add("PERSON", _span(text, m.start("value"), m.end("value"), any_case=True), LABEL_SCORE)
            elif cue.group("weak") and person:
                add("PERSON", _span(text, m.start("value"), m.end("value"), any_case=False), LABEL_SCORE)
            elif cue.group("place") and place:
                span = _span(text, m.start("value"), m.end("value"), any_case=False, place=True)
                if span and text[span[0] : span[1]].lower() not in NOT_PLACES:
                    add("LOCATION", span, LABEL_SCORE)
        if person:
            self._people(text, low, add)
        if place:
            self._places(text, low, add)
        return results

    def _people(self, text: str, low: str, add: _Add) -> None:
        for m in _TITLED.finditer(text):
            add("PERSON", _span(text, m.start("value"), m.end("value"), any_case=False), LABEL_SCORE)
        for cue, m in _cued(_GREETING_CUE, _GREETED_VALUE, text, low):
            # A lower-case name only with a known first name ("hi, this is bakyt ..."), or after "my name is".
            strong = cue.group("cue").startswith(("my name", "name"))
            lower_ok = strong or _known_first(text, m.start("value"), m.end("value"))
            add("PERSON", _span(text, m.start("value"), m.end("value"), any_case=lower_ok), CUE_SCORE)
        for pattern in (_SIGNED, _DASH_SIGNED):
            for m in pattern.finditer(text):
                span = _span(text, m.start("value"), m.end("value"), any_case=True)
                if span and span == (m.start("value"), m.end("value")) and len(text[span[0] : span[1]].split()) <= 4:
                    add("PERSON", span, CUE_SCORE)  # the whole line is the name, or it is no signature
        for m in _BARE_INITIALS.finditer(text):
            if m.group() not in ABBREVIATIONS:
                add("PERSON", (m.start(), m.end()), WEAK_SCORE)
        first, last, blocked = _vocabulary()
        for m in _INITIAL_NAME.finditer(text):
            if m.group("value").lower() not in blocked:
                more = m.group("more")
                end = m.end("more") if more and more.lower() not in blocked else m.end("value")
                add("PERSON", (m.start(), end), WEAK_SCORE)
        # A known first name followed by a space, then the word after it. (A regex of the text's own first
        # names was compiled afresh for most texts, and its alternation could stop at "ann" in "anna smith".)
        if first.isdisjoint(_WORDS.findall(low)):  # most texts: no word-by-word loop
            return
        for given in _GIVEN.finditer(low):
            if given.group() not in first:
                continue
            family = _NEXT_WORD.match(text, given.end())
            if family is None:
                continue
            a, b = text[given.start() : given.end()], family.group(1)
            same_case = (a.islower() and b.islower()) or (a.isupper() and b.isupper())
            if same_case and b.lower() in last and b.lower() not in blocked:
                add("PERSON", (given.start(), family.end(1)), CUE_SCORE)

    def _places(self, text: str, low: str, add: _Add) -> None:
        _, _, blocked = _vocabulary()
        for _, m in _cued(_PLACE_CUE, _PLACE_VALUE, text, low):
            span = _span(text, m.start("value"), m.end("value"), any_case=False, place=True)
            if span and text[span[0] : span[1]].lower() not in NOT_PLACES:
                add("LOCATION", span, CUE_SCORE)
        for start, end in _country_spans(text):
            add("LOCATION", (start, end), CUE_SCORE)
            town = _TOWN_BEFORE.search(text, max(0, start - 60), start)
            if town and not any(w.lower() in blocked for w in town.group("value").split()):
                add("LOCATION", (town.start("value"), town.end("value")), CUE_SCORE)
