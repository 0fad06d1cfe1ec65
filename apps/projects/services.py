import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.common.errors import Conflict, DomainError, NotFound
from apps.common.redis_client import redis_client
from apps.projects.models import (
    DEFAULT_API_KEY_SCOPES,
    ApiKey,
    ApiKeyScope,
    Membership,
    OneTimePassword,
    Project,
    Role,
)
from apps.projects.selectors import membership_get

KEY_PREFIX = "ds_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def project_create(*, slug: str, name: str = "", admin: User | None = None) -> Project:
    clean = slugify(slug)
    if not clean or clean != slug:
        raise DomainError("A project slug is lower-case letters, digits and hyphens", code="invalid_slug", field="slug")
    if Project.objects.filter(slug=slug).exists():
        raise Conflict(f"A project with the slug '{slug}' already exists", field="slug")
    project = Project.objects.create(slug=slug, name=name or slug.replace("-", " ").title())
    if admin is not None:
        Membership.objects.create(project=project, user=admin, role=Role.ADMIN)
    return project


def project_settings_update(*, project: Project, name: str, webhook_url: str) -> Project:
    """The project's name and the webhook told of circuit-breaker trips (blank: none). Only http(s) URLs."""
    name, webhook_url = name.strip(), webhook_url.strip()
    if not name:
        raise DomainError("Give the project a name.", field="name", code="required")
    if webhook_url and not webhook_url.startswith(("https://", "http://")):
        raise DomainError("The webhook is an http or https URL.", field="webhook_url", code="invalid")
    project.name, project.webhook_url = name[:200], webhook_url
    project.save(update_fields=["name", "webhook_url"])
    return project


@transaction.atomic
def membership_set(*, project: Project, user: User, role: str) -> Membership:
    if role not in Role.values:
        raise DomainError(f"Unknown role '{role}'", code="invalid_role", field="role")
    membership, created = Membership.objects.select_for_update().get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _ensure_another_admin(project, user)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user: User) -> None:
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise NotFound("That person is not a member of this project")
    if membership.role == Role.ADMIN:
        _ensure_another_admin(project, user)
    membership.delete()


def _ensure_another_admin(project: Project, user: User) -> None:
    others = Membership.objects.filter(project=project, role=Role.ADMIN).exclude(user=user)
    if not others.exists():
        raise Conflict("A project needs at least one admin; make someone else admin first", field="role")


@transaction.atomic
def member_add(*, project: Project, username: str, role: str, email: str = "") -> tuple[Membership, str | None]:
    """Add a person by username; creates the account when it does not exist.

    Returns the membership and, for a new account, its one-time password (the admin sees it once): at
    their first login the new member must choose their own before any page opens.
    """
    username = username.strip()
    if not username:
        raise DomainError("A username is required", code="invalid_username", field="username")
    password: str | None = None
    user = User.objects.filter(username=username).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        try:
            user = User.objects.create_user(username=username, email=email.strip(), password=password)
        except IntegrityError as exc:
            raise Conflict("That username was just taken; try again", field="username") from exc
        OneTimePassword.objects.create(user=user)
    return membership_set(project=project, user=user, role=role), password


@transaction.atomic
def password_change(*, user: User, password: str) -> User:
    """Set the person's own password (already checked by the password validators). A one-time password
    stops working, and with it the demand to change it."""
    if user.check_password(password):
        raise DomainError(
            "Choose a new password, not the one you logged in with", code="password_unchanged", field="new_password1"
        )
    user.set_password(password)
    user.save(update_fields=["password"])
    OneTimePassword.objects.filter(user=user).delete()
    return user


@transaction.atomic
def api_key_create(
    *,
    project: Project,
    name: str,
    scopes: list[str] | None = None,
    created_by: User | None = None,
    operator: bool = False,
) -> tuple[ApiKey, str]:
    """Create a key; the secret is returned once and never stored. The "admin" scope (fleet-wide reads
    such as the GPU workers) is granted only when `created_by` is an admin of this project, the "approve"
    scope (approve, reject and revoke model swaps) only when they are an owner or admin. `operator`: the
    key is made on the command line (manage.py create_project), by whoever runs the installation."""
    name = name.strip()
    if not name:
        raise DomainError("Give the key a name, such as the agent that will use it", code="invalid_name", field="name")
    scopes = list(scopes if scopes is not None else DEFAULT_API_KEY_SCOPES)
    unknown = [s for s in scopes if s not in ApiKeyScope.values]
    if unknown or not scopes:
        raise DomainError(
            f"Scopes must be chosen from {', '.join(ApiKeyScope.values)}", code="invalid_scopes", field="scopes"
        )
    if not operator:
        _check_may_grant(project=project, user=created_by, scopes=scopes, verb="create")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=secret[:10],
        hashed_key=hash_api_key(secret),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    return key, secret


def _check_may_grant(*, project: Project, user: User | None, scopes: list[str], verb: str) -> None:
    """The admin scope is an admin's to grant, the approve scope an owner's or admin's; so is revoking a key
    that holds them (an engineer may not cut off the owners' approval client)."""
    membership = membership_get(project=project, user=user) if user is not None else None
    if ApiKeyScope.ADMIN in scopes and (membership is None or membership.role != Role.ADMIN):
        raise DomainError(
            f"Only an admin of this project can {verb} a key with the admin scope",
            code="scope_not_allowed",
            status=403,
            field="scopes",
        )
    if ApiKeyScope.APPROVE in scopes and (membership is None or not membership.can("approve")):
        raise DomainError(
            f"Only an owner or admin of this project can {verb} a key with the approve scope",
            code="scope_not_allowed",
            status=403,
            field="scopes",
        )


@transaction.atomic
def api_key_revoke(*, key: ApiKey, by: User | None = None) -> ApiKey:
    """Revoke a key; the gateway, which caches keys, is told on the project's routes channel after commit.
    `by`: the member asking, who must be allowed to grant the key's scopes; None is the operator (commands)."""
    if by is not None:
        _check_may_grant(project=key.project, user=by, scopes=key.scopes, verb="revoke")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        project_id = key.project_id
        transaction.on_commit(
            lambda: redis_client().publish(f"downshift:routes:{project_id}", str(project_id)), robust=True
        )
    return key


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key for a secret, or None. Records last use at most once a minute."""
    if not secret.startswith(KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("project")
        .filter(hashed_key=hash_api_key(secret), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
