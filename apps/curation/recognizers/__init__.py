"""The pattern engine's recognizers, one module per kind, each stating what it misses.

cards, phones: long numbers told apart by shape, checksum and the words before them (context).
addresses: street addresses and US ZIP codes (off by default). secret: API keys and tokens.
standard: presidio's recognizers for e-mail, IBAN, IP, US SSN and bitcoin. names: the person-name
rule. cues: names and places told by the words around them (labels, titles, greetings, signatures,
initials, "lives in", country names), in any case; it runs with and without an NER model.
"""

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # presidio must not fetch the suffix list

from apps.curation.recognizers.addresses import StreetAddressRecognizer, UsZipCodeRecognizer
from apps.curation.recognizers.cards import CardRecognizer, luhn_valid
from apps.curation.recognizers.names import NAME_LOCALES, PersonNameRecognizer, _name_lists
from apps.curation.recognizers.phones import PHONE_REGIONS, PhoneNumberRecognizer
from apps.curation.recognizers.secret import SECRET_FIELD, SecretRecognizer
from apps.curation.recognizers.standard import BoundedEmailRecognizer, Crypto, Iban, IpAddress, UsSsn

__all__ = [
    "NAME_LOCALES",
    "PHONE_REGIONS",
    "SECRET_FIELD",
    "BoundedEmailRecognizer",
    "CardRecognizer",
    "Crypto",
    "Iban",
    "IpAddress",
    "PersonNameRecognizer",
    "PhoneNumberRecognizer",
    "SecretRecognizer",
    "StreetAddressRecognizer",
    "UsSsn",
    "UsZipCodeRecognizer",
    "_name_lists",
    "luhn_valid",
]
