"""Project pages: the project list, API keys, members; and changing one's password."""

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.calls import selectors as call_selectors
from apps.common import errors
from apps.common.pages import render_page, to_login, wants_fragment
from apps.projects import selectors, services
from apps.projects.forms import (
    ApiKeyForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectForm,
    ProjectSettingsForm,
    add_domain_error,
)
from apps.projects.models import Role
from apps.projects.pages import ProjectRequest, project_page, require_ability

# --- the project list -------------------------------------------------------------------------------


def _project_list_page(request: HttpRequest, form: ProjectForm, status: int = 200) -> HttpResponse:
    user = cast(User, request.user)
    projects = list(selectors.project_list(user=user))
    counts = call_selectors.call_count_by_project(project_ids=[p.id for p in projects])
    roles = selectors.role_by_project(user=user)
    rows = [
        {
            "project": p,
            "calls": counts.get(p.id, 0),
            "role": Role(roles[p.id]).label if p.id in roles else "Superuser",
        }
        for p in projects
    ]
    return render(request, "projects/list.html", {"rows": rows, "form": form}, status=status)


@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return to_login(request)
    return _project_list_page(request, ProjectForm())


@require_POST
def project_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return to_login(request)
    if not request.user.is_superuser:
        raise Forbidden("Only a superuser can create projects")
    form = ProjectForm(request.POST)
    if not form.is_valid():
        return _project_list_page(request, form, status=400)
    try:
        project = services.project_create(
            slug=form.cleaned_data["slug"], name=form.cleaned_data["name"], admin=cast(User, request.user)
        )
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _project_list_page(request, form, status=exc.status)
    messages.success(request, f"Project {project.name} created. Create an API key to start sending calls.")
    return redirect("monitoring:home", slug=project.slug)


# --- API keys ---------------------------------------------------------------------------------------


def _key_form(request: ProjectRequest, data: Any = None) -> ApiKeyForm:
    """Only a project admin is offered the admin scope; only owners and admins the approve scope."""
    membership = request.membership
    return ApiKeyForm(data, allow_admin=membership.role == Role.ADMIN, allow_approve=membership.can("approve"))


def _keys_page(request: ProjectRequest, form: ApiKeyForm, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "keys": selectors.api_key_list(project=request.project),
        "form": form,
        "api_url": request.build_absolute_uri(reverse("api:create_calls")),
        **extra,
    }
    return render_page(request, "projects/keys.html", context, fragment="keys-panel", status=status)


@require_http_methods(["GET", "POST"])
@project_page("manage_keys")
def api_keys(request: ProjectRequest) -> HttpResponse:
    if request.method == "GET":
        return _keys_page(request, _key_form(request))
    form = _key_form(request, request.POST)
    if not form.is_valid():
        return _keys_page(request, form, status=400)
    try:
        key, secret = services.api_key_create(
            project=request.project,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
        )
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _keys_page(request, form, status=exc.status)
    return _keys_page(request, _key_form(request), new_key=key, secret=secret)


@require_POST
@project_page("manage_keys")
def api_key_revoke(request: ProjectRequest, key_id: str) -> HttpResponse:
    try:
        key = services.api_key_revoke(
            key=selectors.api_key_get(project=request.project, key_id=str(key_id)), by=request.user
        )
    except errors.DomainError as exc:
        return _keys_page(request, _key_form(request), error=exc.message, status=exc.status)
    notice = f"Key “{key.name}” revoked: requests using it now get 401."
    if wants_fragment(request):
        return _keys_page(request, _key_form(request), notice=notice)
    messages.success(request, notice)
    return redirect("projects:keys", slug=request.project.slug)


# --- members ----------------------------------------------------------------------------------------


def _members_page(request: ProjectRequest, form: MemberAddForm, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "memberships": selectors.membership_list(project=request.project),
        "form": form,
        "roles": Role.choices,
        **extra,
    }
    return render_page(request, "projects/members.html", context, fragment="members-panel", status=status)


@require_http_methods(["GET", "POST"])
@project_page("view")
def members(request: ProjectRequest) -> HttpResponse:
    if request.method == "GET":
        return _members_page(request, MemberAddForm())
    require_ability(request, "manage_members")
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _members_page(request, form, status=400)
    try:
        membership, password = services.member_add(
            project=request.project,
            username=form.cleaned_data["username"],
            role=form.cleaned_data["role"],
            email=form.cleaned_data["email"],
        )
    except errors.DomainError as exc:
        add_domain_error(form, exc)
        return _members_page(request, form, status=exc.status)
    return _members_page(request, MemberAddForm(), added=membership, password=password)


def _after_member_change(request: ProjectRequest, notice: str) -> HttpResponse:
    """Re-read the person's own role (they may have changed it) and show the list again."""
    membership = selectors.membership_get(project=request.project, user=request.user)
    if membership is None:
        messages.info(request, f"You left {request.project.name}.")
        url = reverse("projects:list")
        return HttpResponseClientRedirect(url) if wants_fragment(request) else redirect(url)
    request.membership = membership
    if wants_fragment(request):
        return _members_page(request, MemberAddForm(), notice=notice)
    messages.success(request, notice)
    return redirect("projects:members", slug=request.project.slug)


@require_POST
@project_page("manage_members")
def member_role(request: ProjectRequest, username: str) -> HttpResponse:
    membership = selectors.membership_get_by_username(project=request.project, username=username)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, MemberAddForm(), status=400, error=f"Choose a valid role for {username}.")
    try:
        services.membership_set(project=request.project, user=membership.user, role=form.cleaned_data["role"])
    except errors.DomainError as exc:
        return _members_page(request, MemberAddForm(), status=exc.status, error=exc.message)
    role = Role(form.cleaned_data["role"]).label
    return _after_member_change(request, f"{username} is now {role}.")


@require_POST
@project_page("manage_members")
def member_remove(request: ProjectRequest, username: str) -> HttpResponse:
    membership = selectors.membership_get_by_username(project=request.project, username=username)
    try:
        services.membership_remove(project=request.project, user=membership.user)
    except errors.DomainError as exc:
        return _members_page(request, MemberAddForm(), status=exc.status, error=exc.message)
    return _after_member_change(request, f"{username} was removed from {request.project.name}.")


# --- one's own password -----------------------------------------------------------------------------


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
        except errors.DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            update_session_auth_hash(request, user)  # stay logged in here; other sessions end
            messages.success(request, "Your password is changed.")
            return redirect(_next(request) or "projects:list")
    context = {
        "form": form,
        "required": selectors.one_time_password_held(user_id=account.pk),
        "next": _next(request),
    }
    return render(request, "projects/password_change.html", context, status=400 if form.is_bound else 200)


# --- settings --------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@project_page("view")
def project_settings(request: ProjectRequest) -> HttpResponse:
    """The project's name and where breaker trips are told (its webhook); admins change them."""
    project = request.project
    if request.method == "GET":
        form = ProjectSettingsForm(initial={"name": project.name, "webhook_url": project.webhook_url})
        return render(request, "projects/settings.html", {"form": form})
    require_ability(request, "manage_settings")
    form = ProjectSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.project_settings_update(
                project=project, name=form.cleaned_data["name"], webhook_url=form.cleaned_data["webhook_url"]
            )
        except errors.DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("projects:settings", slug=project.slug)
    return render(request, "projects/settings.html", {"form": form}, status=400)
