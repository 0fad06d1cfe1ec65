"""Endpoint API keys at rest: Fernet (AES-128-CBC with an HMAC) under a key derived from SECRET_KEY by HKDF.

Keys encrypted under an earlier SECRET_KEY still decrypt while it is listed in SECRET_KEY_FALLBACKS, as
Django does for its own signatures. A key that decrypts under none of them can only be entered again."""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"downshift model endpoint api keys"


class UnreadableKey(Exception):
    """The stored key decrypts under no current or fallback SECRET_KEY."""


def _fernet(secret: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(secret) for secret in secrets])


def encrypt(plain: str) -> str:
    """A Fernet token of the text ('' stays '')."""
    return _keys().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UnreadableKey from exc
