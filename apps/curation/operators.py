"""What a finding is replaced with: its type tag, a mask, or a pseudonym.

A pseudonym is a keyed hash of the value (HMAC-SHA256 under the project's secret) turned into a
fake of the same shape: a name becomes another name, an email another email, a card number another
Luhn-valid number with the same grouping. The same value always gets the same fake within a
project, so training data keeps its structure, and another project's key gives other fakes.
"""

import hashlib
import hmac
import random
import re
import string
from functools import cache

from apps.curation.pii import _name_lists

_ALNUM = re.compile(r"[A-Za-z0-9]")
_SECRET_PREFIX = re.compile(r"^(?:sk-(?:proj-|ant-)?|gh[pousr]_|xox[abpors]-|AKIA|ASIA|AIza|eyJ|ds_|bearer\s+)", re.I)


def tag(entity: str) -> str:
    return f"<{entity}>"


def mask(value: str) -> str:
    """Letters and digits become '*'; separators stay, so the shape is still visible."""
    return _ALNUM.sub("*", value)


@cache
def _names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    first, last = _name_lists()
    return tuple(sorted(first)), tuple(sorted(last))


def _rng(entity: str, value: str, key: bytes) -> random.Random:
    digest = hmac.new(key, f"{entity}\x00{value.strip().lower()}".encode(), hashlib.sha256).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _same_classes(value: str, rng: random.Random) -> str:
    """Each digit, lower-case and upper-case letter becomes a random one of its class."""
    out = []
    for ch in value:
        if ch.isdigit():
            out.append(rng.choice(string.digits))
        elif ch in string.ascii_lowercase:
            out.append(rng.choice(string.ascii_lowercase))
        elif ch in string.ascii_uppercase:
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(ch)
    return "".join(out)


def _luhn_fixed(number: str) -> str:
    """Set the last digit so the digits pass the Luhn check; separators stay where they were."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits[:-1])):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    check = str((10 - total % 10) % 10)
    last = max(i for i, c in enumerate(number) if c.isdigit())
    return number[:last] + check + number[last + 1 :]


def pseudonym(entity: str, value: str, key: bytes) -> str:
    rng = _rng(entity, value, key)
    first, last = _names()
    if entity == "PERSON":
        words = value.split()
        return " ".join([rng.choice(first)] + [rng.choice(last) for _ in words[1:]])
    if entity == "EMAIL_ADDRESS":
        local = f"{rng.choice(first)}.{rng.choice(last)}".lower()
        local = re.sub(r"[^a-z.]", "", local)
        return f"{local}{rng.randint(1, 99)}@example.{rng.choice(('com', 'org', 'net'))}"
    if entity == "IP_ADDRESS" and ":" not in value:
        return "10." + ".".join(str(rng.randint(0, 255)) for _ in range(3))
    if entity == "CREDIT_CARD":
        faked = value[0] + _same_classes(value[1:], rng)
        return _luhn_fixed(faked)
    if entity == "IBAN_CODE":
        return value[:2] + _same_classes(value[2:], rng)
    if entity == "SECRET":
        prefix = _SECRET_PREFIX.match(value)
        keep = prefix.end() if prefix else 0
        return value[:keep] + _same_classes(value[keep:], rng)
    return _same_classes(value, rng)
