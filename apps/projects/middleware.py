"""A person who logged in with a one-time password chooses their own before any page opens."""

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from apps.projects.selectors import one_time_password_held


class OneTimePasswordMiddleware:
    """Sends a logged-in person who still holds a one-time password to the password-change page, from
    every page but that one, logging out, the API (key-authenticated) and static files."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not self._exempt(request.path_info):
            if one_time_password_held(user_id=request.user.pk):
                return self._to_change(request)
        return self.get_response(request)

    def _exempt(self, path: str) -> bool:
        free = (
            reverse("projects:password_change"),
            reverse("logout"),
            reverse("api:api-root"),
            "/" + settings.STATIC_URL.lstrip("/"),
        )
        return path.startswith(free)

    def _to_change(self, request: HttpRequest) -> HttpResponse:
        htmx = getattr(request, "htmx", None)
        after = htmx.current_url_abs_path if htmx else request.get_full_path() if request.method == "GET" else ""
        url = reverse("projects:password_change")
        if after:
            url += "?" + urlencode({"next": after}, safe="/")
        # An htmx request would swap the page into a fragment: send the browser itself there.
        return HttpResponseClientRedirect(url) if htmx else HttpResponseRedirect(url)
