"""presidio's own recognizers for the types whose formats are fixed, each with what it misses."""

from presidio_analyzer import Pattern
from presidio_analyzer.predefined_recognizers import (
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)


class BoundedEmailRecognizer(EmailRecognizer):
    """presidio's e-mail pattern with every repeat bounded (a local part of at most 64 characters, as
    RFC 5321 has it, up to 17 labels of at most 63): its unbounded one took 53 s on 16,000 characters
    of "a.a.a..." and grew with the cube of the length. Same score, same validation (a known TLD).

    Known misses: addresses at a TLD the bundled list does not know, or at a bare host ("root@localhost");
    quoted local parts ("\\"john doe\\"@example.com"); obfuscated ones ("jane at example dot com")."""

    _LOCAL = r"[!#$%&'*+\-/=?^_`{|}~\w](?:[!#$%&'*+\-/=?^_`{|}~.\w]{0,62}[!#$%&'*+\-/=?^_`{|}~\w])?"
    _LABEL = r"\w{1,63}(?:-{1,8}\w{1,63}){0,8}"
    PATTERNS = [Pattern("Email (Medium)", rf"\b({_LOCAL}@{_LABEL}(?:\.{_LABEL}){{1,16}})\b", 0.5)]


class Iban(IbanRecognizer):
    """IBANs of every country presidio lists, checked against the country's length and the mod-97 check
    digits, with or without spaces or dashes every four characters.

    Known misses: IBANs in lower case or with other groupings or separators; ones split across lines;
    countries presidio does not list; national account numbers (a US routing plus account number, a
    UK sort code plus account number)."""


class IpAddress(IpRecognizer):
    """IPv4 (dotted quad, with a /prefix) and IPv6 (full, compressed, IPv4-mapped) addresses.

    Known misses: IPv4 written with leading zeros or in hex or decimal; an address glued to letters
    ("ip10.0.0.1"). Known false positives: version strings of four numbers up to 255 ("1.2.3.4") and
    the "::" of some code; MAC addresses are not found."""


class UsSsn(UsSsnRecognizer):
    """US social security numbers, "123-45-6789", "123 45 6789" or "123.45.6789", less the ones never
    issued (000 or 666 areas, 00 groups, 0000 serials, one digit repeated) and well-known samples.

    Known misses: an SSN written as nine digits in a row, or with dashes elsewhere, without "ssn" or
    "social security" just before it (presidio scores those 0.05); ITINs and other countries' ids."""


class Crypto(CryptoRecognizer):
    """Bitcoin addresses (legacy base58 "1..." and "3..." with their checksum, bech32 "bc1...").

    Known misses: every other chain (Ethereum "0x...", Solana, Monero, Litecoin), testnet addresses,
    seed phrases and private keys."""
