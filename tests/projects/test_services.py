from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from apps.common.errors import Conflict, DomainError
from apps.projects.models import ApiKey, Project, Role
from apps.projects.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    hash_api_key,
    member_add,
    membership_remove,
    membership_set,
    project_create,
)


def test_a_key_is_stored_hashed_and_authenticates_once_revoked_never(project: Project) -> None:
    key, secret = api_key_create(project=project, name="agent")
    assert secret.startswith("ds_") and secret not in key.hashed_key
    assert key.hashed_key == hash_api_key(secret)
    assert api_key_authenticate(secret=secret) == key
    api_key_revoke(key=key)
    assert api_key_authenticate(secret=secret) is None
    assert api_key_authenticate(secret="ds_wrong") is None
    assert api_key_authenticate(secret="") is None


def test_last_use_is_recorded_at_most_once_a_minute(project: Project) -> None:
    key, secret = api_key_create(project=project, name="agent")
    api_key_authenticate(secret=secret)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api_key_authenticate(secret=secret)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=5))
    api_key_authenticate(secret=secret)
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_at > first


def test_a_key_needs_a_name_and_known_scopes(project: Project) -> None:
    with pytest.raises(DomainError) as info:
        api_key_create(project=project, name=" ")
    assert info.value.field == "name"
    with pytest.raises(DomainError) as info:
        api_key_create(project=project, name="k", scopes=["admin"])
    assert info.value.field == "scopes"


def test_project_slugs_are_checked_and_unique(db: None) -> None:
    project_create(slug="support-bot")
    with pytest.raises(Conflict):
        project_create(slug="support-bot")
    with pytest.raises(DomainError) as info:
        project_create(slug="Not A Slug")
    assert info.value.field == "slug"


def test_the_last_admin_cannot_be_demoted_or_removed(
    project: Project, admin_user: User, make_user: Callable[..., User]
) -> None:
    with pytest.raises(Conflict):
        membership_set(project=project, user=admin_user, role=Role.VIEWER)
    with pytest.raises(Conflict):
        membership_remove(project=project, user=admin_user)
    second = make_user("second-admin")
    membership_set(project=project, user=second, role=Role.ADMIN)
    membership_remove(project=project, user=admin_user)
    assert not project.memberships.filter(user=admin_user).exists()


def test_adding_a_new_person_creates_the_account_with_a_one_time_password(project: Project) -> None:
    membership, password = member_add(project=project, username="dana", role=Role.OWNER)
    assert membership.role == Role.OWNER and password
    assert User.objects.get(username="dana").check_password(password)
    again, no_password = member_add(project=project, username="dana", role=Role.VIEWER)
    assert again.role == Role.VIEWER and no_password is None


def test_roles_grant_their_abilities(project: Project, viewer: User, engineer: User, owner: User) -> None:
    memberships = {m.user.username: m for m in project.memberships.select_related("user")}
    assert not memberships["viewer"].can("upload")
    assert memberships["engineer"].can("upload") and not memberships["engineer"].can("approve")
    assert memberships["owner"].can("approve") and not memberships["owner"].can("manage_members")
