"""Payment card numbers of any issuer, told apart from the other long numbers agent logs are full of."""

import re
from datetime import datetime

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from apps.curation.recognizers.context import CARD_WORDS, PHONE_WORDS, context_of


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def gtin_valid(digits: str) -> bool:
    """The GS1 check digit of a UPC-A (12), EAN-13 or GTIN-14 barcode number."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(reversed(digits[:-1]), start=1))
    return len(digits) in (12, 13, 14) and (10 - total % 10) % 10 == int(digits[-1])


def _is_timestamp(digits: str) -> bool:
    """Unix time in milliseconds, microseconds or nanoseconds (2001 to 2036), or a compact date-time
    (YYYYMMDDhhmm, YYYYMMDDhhmmss, with milliseconds)."""
    if len(digits) in (13, 16, 19) and 10 ** (len(digits) - 1) <= int(digits) < 21 * 10 ** (len(digits) - 2):
        return True
    if len(digits) in (12, 14, 17) and digits[:2] in ("19", "20"):
        try:
            datetime.strptime(digits[:12], "%Y%m%d%H%M")
        except ValueError:
            return False
        return True
    return False


class CardRecognizer(EntityRecognizer):
    """Card numbers of every issuer (Visa 13/16/19, Mastercard 51-55 and 2221-2720, Amex, Discover, JCB,
    Diners, UnionPay, Maestro 12-19, and any other), written in one run of digits or in groups split by
    spaces or dashes (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3, ...), that pass the Luhn check.

    No list of issuers: a tenth of all long numbers pass the Luhn check, and what tells a card from an
    order number is not its first digit but where it stands. So:
    - grouped like a card, the score is 0.85; one run of digits (as ids are written) 0.6, or 0.3 when
      it starts with 0 (as national phone numbers do; Maestro's 0604 does too);
    - the nearest telling word before it (context.context_of) decides: a card word ("card", "visa",
      "paid", a JSON key "card_number") adds 0.1 (to a run from 0 too, counted from 0.6); an id word
      ("order", "invoice", "ticket", "tracking", a "#", a JSON key "order_id" or "id", "imei"...) or a
      phone word lowers the score to 0.2, under the default threshold;
    - so does one run of digits that reads as a Unix timestamp in ms/us/ns, a compact date-time
      (YYYYMMDDhhmm...) or a barcode number (UPC-A, EAN-13, GTIN-14 with their GS1 check digit);
    - never part of a longer token, a decimal, a dotted version or an IP address, and never right after
      a "+44 "-style country code (a phone number) or an IBAN's "DE89 ".
    A group of digits too many at the end ("4111 1111 1111 1111 2025") is dropped and the rest checked.

    Known misses: a card number right after an id word ("order 4111 1111 1111 1111") or under an id-like
    JSON key; with no card word before it, one run of 13, 16 or 19 digits starting with 1 or 20 (a
    timestamp's range; no major issuer), one starting with 0, or one of 12-14 digits that also passes
    the barcode check (a tenth of them); cards that fail Luhn (some
    UnionPay); numbers grouped with dots or split across lines; a number glued to letters or other
    digits ("ID-4111...", "4111111111111111-01"). Known false positives: other Luhn-valid ids with no
    telling word before them (one in ten 12-19 digit ids, a bare 16-digit snowflake id say)."""

    GROUPED, RUN, RUN_FROM_ZERO, CONTEXT_STEP, DEMOTED = 0.85, 0.6, 0.3, 0.1, 0.2
    CANDIDATE = re.compile(
        r"(?<![\w+])(?<![\w][\-/])(?<!\d[.,])"
        r"(?:(?P<run>\d{12,19})|\d{4}(?P<sep>[ \-])\d{3,6}(?:(?P=sep)\d{3,6}){0,2}(?:(?P=sep)\d{1,4})?)"
        r"(?![\w\-]|[.,/]\d)"
    )
    NOT_A_CARD_BEFORE = re.compile(r"(?:(?:\+|\b00)\d{1,3}[ .\-]?(?:\(0\)[ .\-]?)?|\b[A-Z]{2}\d{2}[ \-]?)$")

    def __init__(self) -> None:
        super().__init__(supported_entities=["CREDIT_CARD"], name="CardRecognizer")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in self.CANDIDATE.finditer(text):
            span = self._card_span(match)
            if span is None or self.NOT_A_CARD_BEFORE.search(text, max(0, match.start() - 12), match.start()):
                continue
            start, end, digits = span
            run = bool(match.group("run"))
            score = self.GROUPED if not run else self.RUN if digits[0] != "0" else self.RUN_FROM_ZERO
            context = context_of(text, start, CARD_WORDS, PHONE_WORDS)
            if context < 0 or (run and context == 0 and (_is_timestamp(digits) or gtin_valid(digits))):
                score = self.DEMOTED
            elif context > 0:
                score = max(score, self.RUN) + self.CONTEXT_STEP
            results.append(RecognizerResult("CREDIT_CARD", start, end, score))
        return results

    @staticmethod
    def _card_span(match: re.Match[str]) -> tuple[int, int, str] | None:
        """(start, end, digits) of the Luhn-valid card in the match: all of it, or all but its last group."""
        raw = match.group()
        ends = [len(raw)]
        if match.group("sep"):
            ends.append(raw.rfind(match.group("sep")))
        for end in ends:
            digits = re.sub(r"\D", "", raw[:end])
            if 12 <= len(digits) <= 19 and not digits.startswith("00") and luhn_valid(digits):
                return match.start(), match.start() + end, digits
        return None
