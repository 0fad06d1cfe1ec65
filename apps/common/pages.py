"""Helpers every HTMX page uses: a fragment or the whole page, and the way to the login page."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx request swaps a fragment; a history restore after a cache miss needs the whole page."""
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, fragment: str, status: int = 200
) -> HttpResponse:
    """The page, or only its `{% partialdef fragment %}` when htmx asked."""
    name = f"{template}#{fragment}" if wants_fragment(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def to_login(request: HttpRequest) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    if htmx:
        # Send the browser itself to the login page, back to the page it was on, not into a fragment.
        after = htmx.current_url_abs_path or reverse("projects:list")
        return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': after})}")
    return redirect_to_login(request.get_full_path())
