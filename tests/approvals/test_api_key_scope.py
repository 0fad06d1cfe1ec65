"""The "approve" API-key scope: only owners and admins of the project grant it, and only they are offered it."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.common.errors import DomainError
from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_create

pytestmark = pytest.mark.django_db
KEYS_URL = "/p/acme/keys/"


@pytest.mark.parametrize("role", ["owner", "admin_user"])
def test_owners_and_admins_grant_the_approve_scope(request: pytest.FixtureRequest, project: Project, role: str) -> None:
    key, _ = api_key_create(
        project=project, name="release", scopes=["approve"], created_by=request.getfixturevalue(role)
    )
    assert key.scopes == ["approve"]


@pytest.mark.parametrize("role", ["engineer", "viewer", "outsider"])
def test_others_cannot(request: pytest.FixtureRequest, project: Project, role: str) -> None:
    with pytest.raises(DomainError) as info:
        api_key_create(project=project, name="release", scopes=["approve"], created_by=request.getfixturevalue(role))
    assert info.value.status == 403 and "Only an owner or admin of this project" in info.value.message
    with pytest.raises(DomainError):
        api_key_create(project=project, name="release", scopes=["approve"])


def test_keys_get_no_approve_scope_by_default(project: Project, owner: User) -> None:
    assert "approve" not in api_key_create(project=project, name="agent", created_by=owner)[0].scopes


def test_the_key_form_offers_the_scope_to_owners_only(
    login: Callable[[User], Client], owner: User, engineer: User, project: Project
) -> None:
    client = login(owner)
    html = client.get(KEYS_URL).content.decode()
    assert 'value="approve"' in html and "Approve model swaps" in html
    response = client.post(KEYS_URL, {"name": "release", "scopes": ["approve", "read"]})
    assert response.status_code == 200 and ApiKey.objects.get(name="release").scopes == ["approve", "read"]

    client = login(engineer)
    assert 'value="approve"' not in client.get(KEYS_URL).content.decode()
    response = client.post(KEYS_URL, {"name": "sneaky", "scopes": ["approve"]})
    assert response.status_code == 400 and "approve is not one of the available choices" in response.content.decode()
    assert not ApiKey.objects.filter(name="sneaky").exists()
