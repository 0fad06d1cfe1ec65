"""The person's own account: choosing a new password (required after logging in with a one-time one)."""

from typing import cast

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from apps.common.errors import DomainError
from apps.projects import services
from apps.projects.models import OneTimePassword


def _next(request: HttpRequest) -> str:
    after = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(after, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return after if safe else ""


@sensitive_post_parameters()
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    account = cast(User, request.user)  # login_required
    form = PasswordChangeForm(account, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            user = services.password_change(user=account, password=form.cleaned_data["new_password1"])
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            update_session_auth_hash(request, user)  # stay logged in here; other sessions end
            messages.success(request, "Your password is changed.")
            return redirect(_next(request) or "projects:list")
    context = {
        "form": form,
        "required": OneTimePassword.objects.filter(user=account).exists(),
        "next": _next(request),
    }
    return render(request, "projects/password_change.html", context, status=400 if form.is_bound else 200)
