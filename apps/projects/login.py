"""The login page, throttled (apps.common.throttle): an account with LOGIN_FAILURES_PER_ACCOUNT recent wrong
passwords, or an address with LOGIN_FAILURES_PER_ADDRESS, is locked until LOGIN_LOCKOUT_S after the last one.
A locked login is refused before the password is checked, the right one too, and answered 429 saying when to
try again; a successful login clears its account's count."""

import math
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse

from apps.common import throttle

ACCOUNT, ADDRESS = "login-account", "login-address"


def _locked_for(username: str, address: str) -> tuple[int, str]:
    """(seconds left, what is locked), or (0, "")."""
    account = throttle.locked_for(ACCOUNT, username, limit=settings.LOGIN_FAILURES_PER_ACCOUNT) if username else 0
    if account:
        return account, "this account"
    return throttle.locked_for(ADDRESS, address, limit=settings.LOGIN_FAILURES_PER_ADDRESS), "your address"


class LoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "").strip()[:150]
        address = throttle.client_address(request)
        wait, what = _locked_for(username, address)
        if wait:
            return self._locked(request, username, wait, what)
        form = self.get_form()
        if form.is_valid():
            throttle.failures_clear(ACCOUNT, username)
            return self.form_valid(form)
        if username:
            throttle.failure_add(ACCOUNT, username, window_s=settings.LOGIN_LOCKOUT_S)
        throttle.failure_add(ADDRESS, address, window_s=settings.LOGIN_LOCKOUT_S)
        wait, what = _locked_for(username, address)
        if wait:
            return self._locked(request, username, wait, what)
        return self.form_invalid(form)

    def _locked(self, request: HttpRequest, username: str, wait: int, what: str) -> HttpResponse:
        minutes = max(1, math.ceil(wait / 60))
        lockout = (
            f"Too many failed attempts from {what}: try again in {minutes} minute{'s' if minutes != 1 else ''}. "
            "Until then every login is refused, even with the right password."
        )
        form = AuthenticationForm(request, initial={"username": username})
        response = self.render_to_response(self.get_context_data(form=form, lockout=lockout))
        response.status_code = 429
        response["Retry-After"] = str(wait)
        return response
