"""What the words just before a number say it is: a card, a phone number, or an id of some kind.

A number's own digits rarely settle what it is: one Luhn-valid 15-digit string is a card, another an
order number or an IMEI. The word (or the JSON key) right before it usually does. `context_of` reads
the words before a finding, nearest first, past words such as "number", "no." or "at" that say
nothing, and the first other word decides.
"""

import re
from collections.abc import Iterable

# Words that mark an identifier that is neither a card nor a phone number, in several languages.
ID_WORDS = frozenset(
    "order orders ordered invoice inv ticket tickets tracking track shipment parcel package awb ref reference "
    "id ids uuid guid sku serial sn confirmation booking reservation receipt transaction txn trx case po "
    "isbn issn ean upc gtin imei iccid imsi meid timestamp ts epoch created updated modified version "
    "build release seq sequence count total amount qty quantity batch item product model "
    "delivery shipping colis paket envío envio spedizione przesyłka bestellung auftrag rechnung sendung commande "
    "facture pedido factura ordine fattura zamówienie zamowienie faktura "
    "ssn sin social security passport license licence tax tin vat nif nie dni pesel bsn".split()
)
CARD_WORDS = frozenset(
    "card cards credit debit visa mastercard mc amex americanexpress discover jcb diners dinersclub maestro "
    "unionpay cup pan cc ccn cvv cvc expiry exp charge charged paid pay payment karte kreditkarte carte "
    "tarjeta carta cartao karta kort".split()
)
PHONE_WORDS = frozenset(
    "phone phones telephone tel tele mobile mob cell cellphone call calls called calling ring dial fax whatsapp "
    "sms text reach contact hotline helpline landline telefon telefono handy mobil movil cellulare celular "
    "portable callback".split()
)

# Words read past: they sit between a label and its number ("phone number: ...", "reach me at ...").
SKIPPED = frozenset(
    "number numbers no nr num nummer numero is was are be at on to me us him her them my your our his their "
    "the a an of for with via or and please pls new old here from back".split()
)
_WORD = re.compile(r"[^\W\d_]+")
_ID_MARK = re.compile(r"(?:#|\b[PpSs]/[Nn]\.?:?)\s*$")  # "#", part and serial numbers
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
WINDOW_CHARS, WINDOW_WORDS = 48, 6


def _words_before(text: str, start: int) -> list[str]:
    """The last few words before `start`, nearest first, lower case; "orderId" and "order_id" are
    two words each."""
    words: list[str] = []
    for token in reversed(_WORD.findall(text, max(0, start - WINDOW_CHARS), start)):
        parts = _CAMEL.findall(token) if token.isascii() and not token.islower() else [token]
        words.extend(p.lower() for p in reversed(parts or [token]))
        if len(words) >= WINDOW_WORDS:
            break
    return words[:WINDOW_WORDS]


def context_of(text: str, start: int, mine: Iterable[str], theirs: Iterable[str] = ()) -> int:
    """What the nearest word before `start` that is not SKIPPED says: +1 when it is one of `mine`, -1
    when it names an id (ID_WORDS) or `theirs` (another kind of number), 0 otherwise. A "#" (or "P/N",
    "S/N") right before the number counts as an id unless that word is one of `mine` ("Card #4111..."
    is a card, "Ticket #4111..." and "#4111..." are not)."""
    hashed = bool(_ID_MARK.search(text, max(0, start - 8), start))
    for word in _words_before(text, start):
        if word not in SKIPPED:
            if word in mine:
                return 1
            return -1 if hashed or word in ID_WORDS or word in theirs else 0
    return -1 if hashed else 0


def says_number(text: str, start: int) -> bool:
    """Whether "number" (or "no.", "nr") is among the words just before `start`."""
    return any(
        word in ("number", "no", "nr", "num", "nummer", "numero", "numer") for word in _words_before(text, start)[:3]
    )
