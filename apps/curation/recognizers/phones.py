"""Phone numbers in national and international formats, with extensions, from many regions."""

import re
from functools import lru_cache

import phonenumbers
from phonenumbers.phonenumberutil import NumberParseException
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from apps.curation.recognizers.cards import _is_timestamp, gtin_valid, luhn_valid
from apps.curation.recognizers.context import CARD_WORDS, PHONE_WORDS, context_of, says_number

# Where a number with no country code may be from, most likely first (US also covers Canada).
PHONE_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "BR",
    "PL",
    "SE",
    "IN",
    "AU",
    "IE",
    "CH",
    "AT",
    "BE",
    "PT",
    "MX",
)

_TOKEN = r"(?:\(\d{1,5}\)|\d{1,15})"
# Between two groups: one separator; around a parenthesised group it may be left out.
_JOIN = r"(?:[ .\-/\u00a0]|(?<=\))[ .\-]?|[ ]?(?=\())"
_DATE = re.compile(
    r"(?:19|20)\d\d([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|[12]\d|3[01])\2(?:19|20)?\d\d"
)
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.|$)){4}")
_POSTCODE = re.compile(r"\d{4,5}-\d{3}")  # Brazil's 01310-100, Portugal's 1200-195
_NANP = re.compile(r"(?:1[ .\-])?\d{3}([ .\-])\d{3}\1\d{4}")
_THOUSANDS = re.compile(r"\d{1,2}(?:([ .,\u00a0])\d{3})+")
_CURRENCY = r"[$€£¥₹₽]|\b(?:USD|EUR|GBP|CHF|PLN|SEK|NOK|DKK|INR|BRL|AUD|CAD|JPY|CNY|MXN|R\$|Rs|zł|kr)"
_CURRENCY_BEFORE = re.compile(rf"(?:{_CURRENCY})\.?\s?$", re.I)
_CURRENCY_AFTER = re.compile(rf"\s?(?:{_CURRENCY}\b|%|(?:dollars?|euros?|pounds?)\b)", re.I)
_VERSION_BEFORE = re.compile(r"(?:\bv|\bversion|\bver\.?|\bbuild|\brelease|\brev\.?)\s?$", re.I)
_IBAN_BEFORE = re.compile(r"\b[A-Z]{2}\d{2} ?$")
_NONZERO = frozenset("123456789")
_FILTERED = -1.0


@lru_cache(maxsize=8192)
def valid_somewhere(digits: str) -> bool:
    """Whether phonenumbers holds the national number valid in one of PHONE_REGIONS."""
    for region in PHONE_REGIONS:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(digits, region)):
                return True
        except NumberParseException:
            continue
    return False


class PhoneNumberRecognizer(EntityRecognizer):
    """Phone numbers: international ("+44 20 7946 0958", "0049 30 1234567", "+33 (0)1 83 41 77 76"),
    national with a trunk 0 ("07700 900456", "030/1234567", "08-170 669 07", "04 15 39 15 00"), North
    American ("(415) 555-0134", "415.555.0134", "1-800-555-0134") and any other grouping phonenumbers
    holds valid for one of PHONE_REGIONS (US/CA, GB, DE, FR, ES, IT, NL, BR, PL, SE, IN, AU, IE, CH, AT,
    BE, PT, MX), with separators (spaces, dots, dashes, slashes, parentheses) and an extension ("x123",
    "ext. 45", "#200"), which is redacted with the number.

    One regex finds runs of digit groups (linear: groups are whole runs of digits joined by exactly
    one separator, at most nine of them); then, for each run:
    - near-misses are dropped: dates, IPv4 addresses, decimals ("52.520008"), dotted versions,
      amounts (a currency or "%" next to it), Unix timestamps, Luhn-valid card-shaped numbers and an
      IBAN's digits; after an id word or a card word (context.context_of) a number scores 0.2;
    - a number written the way only phone numbers are (a "+" or "00" country code, a parenthesised
      area code, a trunk 0 and an area code followed by a separator, the North American 3-3-4, an
      extension) scores 0.6 with no lookup: what phonenumbers would call invalid (fictional 555 numbers, made-up area
      codes) is still someone's number in a log;
    - any other grouping ("612 34 56 78", "609 141 777") counts only when phonenumbers holds it valid
      in one of the regions (0.45) or a phone word stands before it ("call", "tel", "mobile": 0.7;
      "number": 0.5). phonenumbers is called once per distinct run, not per region over the whole text
      as its PhoneNumberMatcher would (80 us per region per window), and non-phone text never reaches it;
    - a phone word before a number raises its score by 0.3, an extension by 0.1.
    A run too long (two numbers side by side) or too weak as a whole is searched for a number written
    like a phone at its start or end, and the rest is scanned again.

    Known misses: one unbroken run of digits with no trunk 0, no "+" and no phone word before it
    ("4155550134"); a number after an id word ("order 555-123-4567") or written as an amount or date
    ("12 345 678", "01.02.2023"); numbers with letters ("1-800-FLOWERS"), with separators of two or more
    characters ("555 - 123 - 4567"), split across lines or joined to the next by a slash; local numbers
    with no area code that no region holds valid, unless a phone word comes first; numbers longer than
    15 digits.
    Known false positives: ids grouped like phone numbers ("0123 456 789") and, in any grouping
    phonenumbers holds valid for some region, plain counts ("612 345 678 rows")."""

    SHAPED, VALID, SAYS_NUMBER, WORD, DEMOTED = 0.6, 0.45, 0.5, 0.7, 0.2
    CONTEXT_STEP, EXTENSION_STEP = 0.3, 0.1
    CANDIDATE = re.compile(
        rf"(?<![\w+\-/])(?<!\d[.,:])(?P<intl>\+[ ]?|00(?=[1-9]))?{_TOKEN}(?:{_JOIN}{_TOKEN}){{0,8}}"
        r"(?P<ext>,?[ ]?(?i:x|ext\.?|extn\.?|extension|\#)[ ]?\d{1,6})?"
        r"(?![\w]|[.,:/]\d|-\w)"
    )
    GROUP = re.compile(r"\(\d+\)|\d+")

    def __init__(self) -> None:
        super().__init__(supported_entities=["PHONE_NUMBER"], name="PhoneNumberRecognizer")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        position = 0
        while match := self.CANDIDATE.search(text, position):
            core_end = match.start("ext") if match.group("ext") else match.end()
            found = self._best(text, match, core_end)
            if found is None:
                position = match.end()
                continue
            start, end, score = found
            if end == core_end and match.group("ext"):
                end, score = match.end(), min(score + self.EXTENSION_STEP, 1.0)
            results.append(RecognizerResult("PHONE_NUMBER", start, end, score))
            position = end
        return results

    def _best(self, text: str, match: re.Match[str], end: int) -> tuple[int, int, float] | None:
        """(start, end, score) of the phone number in a run: all of it, or, when it is too long or too
        weak as a whole, its longest start written the way only phone numbers are."""
        start, intl = match.start(), bool(match.group("intl"))
        before = text[max(0, start - 12) : start]
        if _CURRENCY_BEFORE.search(before) or _VERSION_BEFORE.search(before) or _IBAN_BEFORE.search(before):
            return None
        extension = bool(match.group("ext"))
        score = self._score(text, start, end, intl=intl, weak_ok=True, extension=extension)
        if score is None and match.group("intl") == "00":  # or a trunk 0 and an area code starting with 0
            score = self._score(text, start, end, intl=False, weak_ok=True, extension=extension)
        if score is not None:
            return None if score == _FILTERED else (start, end, score)
        groups = list(self.GROUP.finditer(text, start + len(match.group("intl") or ""), end))
        for k in range(len(groups) - 1, 0, -1):
            score = self._score(text, start, groups[k - 1].end(), intl=intl, weak_ok=False)
            if score is not None and score != _FILTERED:
                return start, groups[k - 1].end(), score
        return None

    def _score(
        self, text: str, start: int, end: int, *, intl: bool, weak_ok: bool, extension: bool = False
    ) -> float | None:
        """The span's score as a phone number, None when it is not one, _FILTERED for a near-miss."""
        span = text[start:end]
        groups = [g for g in self.GROUP.findall(span.lstrip("+0 ") if intl else span) if g != "(0)"]
        digits = "".join(groups).replace("(", "").replace(")", "")
        if not (8 if intl else 7) <= len(digits) <= 15:
            return None
        if any(len(g.strip("()")) == 1 for g in groups[1 + intl :]):
            return None  # a version, an enumeration, or digits spelled out
        if len(set(digits)) == 1 or sum(g.startswith("(") for g in groups) > 1:
            return None
        if not intl and "." in span and any(len(g) == 1 for g in groups):
            return None  # a version: 8.13.9772
        if span.startswith("00") and len(groups) == 1 and gtin_valid(span):
            return None  # a barcode number: 0012345678905
        context = context_of(text, start, PHONE_WORDS, CARD_WORDS)
        if not intl and self._near_miss(text, end, span, groups, digits, context):
            return _FILTERED
        shaped = extension or intl or "(" in span or (span[0] == "0" and span[1:2] in _NONZERO and len(groups) > 1)
        if shaped or _NANP.fullmatch(span):
            if context < 0:
                return self.DEMOTED
            return min(self.SHAPED + (self.CONTEXT_STEP if context > 0 else 0), 1.0)
        if not weak_ok or context < 0:
            return None
        if context > 0:
            return self.WORD
        if says_number(text, start):
            return self.SAYS_NUMBER
        if len(groups) == 1 and (digits[0] != "0" or len(digits) < 9):
            return None  # an unbroken run of digits: an id far more often than a phone number
        if len(digits) > 11 or ("." in span and len(groups) < 4):
            return None  # longer than a national number; dotted in three groups: a version, most likely
        if _THOUSANDS.fullmatch(span):
            return _FILTERED
        return self.VALID if valid_somewhere(digits) else None

    @staticmethod
    def _near_miss(text: str, end: int, span: str, groups: list[str], digits: str, context: int) -> bool:
        """A date, an IPv4 address, a postcode, a card, an amount, or, unless a phone word stands before
        it, a decimal or a timestamp."""
        if _DATE.fullmatch(span) or _IPV4.fullmatch(span):
            return True
        if _POSTCODE.fullmatch(span):
            return True
        if context > 0:
            return False
        if len(groups) == 2 and "." in span and "(" not in span and not span.startswith("0"):
            return True
        if len(groups) == 1 and (_is_timestamp(digits) or (len(digits) == 10 and 10**9 <= int(digits) < 21 * 10**8)):
            return True
        if 12 <= len(digits) <= 15 and len(groups[0]) == 4 and digits[0] != "0" and luhn_valid(digits):
            return True
        return bool(_CURRENCY_AFTER.match(text, end))
