"""The "admin" API-key scope: only a project admin may grant it, and only admins are offered it."""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.common.errors import DomainError
from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_create

KEYS_URL = "/p/acme/keys/"


def test_a_project_admin_may_grant_the_admin_scope(project: Project, admin_user: User) -> None:
    key, _ = api_key_create(project=project, name="ops", scopes=["admin", "read"], created_by=admin_user)
    assert key.scopes == ["admin", "read"]


def test_a_superuser_may_grant_it_anywhere(project: Project, make_user: Callable[..., User]) -> None:
    key, _ = api_key_create(project=project, name="ops", scopes=["admin"], created_by=make_user(is_superuser=True))
    assert key.scopes == ["admin"]


@pytest.mark.parametrize("role", ["owner", "engineer"])
def test_others_are_refused_on_the_scopes_field(project: Project, role: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(DomainError) as info:
        api_key_create(project=project, name="ops", scopes=["admin"], created_by=request.getfixturevalue(role))
    assert info.value.field == "scopes" and info.value.status == 403 and info.value.code == "scope_not_allowed"
    assert "Only an admin of this project" in info.value.message
    assert not ApiKey.objects.exists()


def test_an_admin_of_another_project_or_nobody_is_refused(project: Project, outsider: User) -> None:
    for creator in (outsider, None):
        with pytest.raises(DomainError) as info:
            api_key_create(project=project, name="ops", scopes=["admin"], created_by=creator)
        assert info.value.field == "scopes"


def test_keys_get_no_admin_scope_by_default(project: Project, admin_user: User) -> None:
    key, _ = api_key_create(project=project, name="agent", created_by=admin_user)
    assert key.scopes == ["discover", "ingest", "read"]


def test_the_key_form_offers_the_scope_to_admins_only(
    login: Callable[[User], Client], admin_user: User, make_user: Callable[..., User], project: Project
) -> None:
    html = login(admin_user).get(KEYS_URL).content.decode()
    boxes = {m.group(1): m.group(0) for m in re.finditer(r'<input[^>]*name="scopes" value="(\w+)"[^>]*>', html)}
    assert set(boxes) == {"ingest", "read", "discover", "approve", "admin", "gateway"}
    assert "checked" in boxes["read"] and "checked" not in boxes["admin"]  # granted on purpose only
    assert "checked" not in boxes["approve"] and "checked" not in boxes["gateway"]
    response = login(admin_user).post(KEYS_URL, {"name": "ops", "scopes": ["admin"]})
    assert response.status_code == 200 and ApiKey.objects.get(name="ops").scopes == ["admin"]


def test_an_engineer_is_not_offered_it_and_cannot_post_it(
    login: Callable[[User], Client], engineer: User, project: Project
) -> None:
    client = login(engineer)
    assert 'value="admin"' not in client.get(KEYS_URL).content.decode()
    response = client.post(KEYS_URL, {"name": "ops", "scopes": ["admin"]})
    assert response.status_code == 400 and "admin is not one of the available choices" in response.content.decode()
    assert not ApiKey.objects.exists()
