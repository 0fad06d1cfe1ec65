from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.common import throttle
from apps.common.errors import PermissionDenied, Throttled
from apps.projects.models import ApiKey
from apps.projects.services import api_key_authenticate


class ProjectApiKey(HttpBearer):
    """`Authorization: Bearer <project API key>`; the key acts only in its own project. Throttled: a key's
    requests (API_REQUESTS_PER_KEY_PER_MINUTE), and an address's requests with a wrong key
    (API_BAD_KEYS_PER_ADDRESS_PER_MINUTE, checked first, so a key guesser stops being answered)."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        address = throttle.client_address(request)
        limit = settings.API_BAD_KEYS_PER_ADDRESS_PER_MINUTE
        if wait := throttle.locked_for("api-bad-key", address, limit=limit):
            raise Throttled(f"Too many requests with a wrong API key from {address}", retry_after=wait)
        key = api_key_authenticate(secret=token.strip())
        if key is None:
            throttle.failure_add("api-bad-key", address, window_s=60)
            return None
        if wait := throttle.hit("api-key", str(key.id), limit=settings.API_REQUESTS_PER_KEY_PER_MINUTE):
            raise Throttled("Too many requests with this API key", retry_after=wait)
        return key


def require_scope(request: HttpRequest, scope: str) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if scope not in key.scopes:
        raise PermissionDenied(f"This API key lacks the '{scope}' scope; create a key with it on the API keys page")
    return key
