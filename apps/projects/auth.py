from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.common.errors import PermissionDenied
from apps.projects.models import ApiKey
from apps.projects.services import api_key_authenticate


class ProjectApiKey(HttpBearer):
    """`Authorization: Bearer <project API key>`; the key acts only in its own project."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return api_key_authenticate(secret=token.strip())


def require_scope(request: HttpRequest, scope: str) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if scope not in key.scopes:
        raise PermissionDenied(f"This API key lacks the '{scope}' scope; create a key with it on the API keys page")
    return key
