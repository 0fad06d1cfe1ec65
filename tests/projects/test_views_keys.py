from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_authenticate, api_key_create

URL = "/p/acme/keys/"


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


def revoke_url(key: ApiKey) -> str:
    return f"/p/{key.project.slug}/keys/{key.id}/revoke/"


def test_lists_the_projects_keys(engineer_client: Client, project: Project, other_project: Project) -> None:
    key, _ = api_key_create(project=project, name="support-bot", scopes=["ingest"])
    api_key_create(project=other_project, name="globex-bot")
    html = engineer_client.get(URL).content.decode()
    assert "support-bot" in html and f"{key.prefix}…" in html and '<span class="chip">ingest</span>' in html
    assert "globex-bot" not in html
    assert "never" in html  # not used yet


def test_creating_a_key_shows_its_secret_once(engineer_client: Client, project: Project, engineer: User) -> None:
    response = engineer_client.post(URL, {"name": "support-bot", "scopes": ["ingest", "read"]})
    html = response.content.decode()
    assert response.status_code == 200
    secret = html.split('<code id="new-secret">')[1].split("</code>")[0]
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.project == project and key.name == "support-bot"
    assert key.scopes == ["ingest", "read"] and key.created_by == engineer
    assert f'-H "Authorization: Bearer {secret}"' in html and "curl -X POST http://testserver/api/v1/calls" in html
    assert secret not in engineer_client.get(URL).content.decode()


def test_a_key_can_have_one_scope(engineer_client: Client, project: Project) -> None:
    engineer_client.post(URL, {"name": "reader", "scopes": ["read"]})
    assert ApiKey.objects.get(project=project).scopes == ["read"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["read"]}, "This field is required."),
        ({"name": "x"}, "Choose at least one scope."),
        ({"name": "x", "scopes": ["admin"]}, "Select a valid choice. admin is not one of the available choices."),
        ({"name": "   ", "scopes": ["read"]}, "This field is required."),
    ],
)
def test_bad_input_is_400_with_the_form_error(
    engineer_client: Client, project: Project, data: dict[str, object], message: str
) -> None:
    response = engineer_client.post(URL, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiKey.objects.exists()


def test_htmx_create_returns_only_the_keys_panel(engineer_client: Client) -> None:
    response = engineer_client.post(URL, {"name": "bot", "scopes": ["ingest"]}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="keys-panel"') and "<html" not in html
    assert 'id="new-secret"' in html


def test_revoking_a_key_stops_it_working(engineer_client: Client, project: Project) -> None:
    key, secret = api_key_create(project=project, name="old-bot")
    response = engineer_client.post(revoke_url(key))
    assert response.status_code == 302 and response["Location"] == URL
    assert api_key_authenticate(secret=secret) is None
    html = engineer_client.get(URL).content.decode()
    assert "Key “old-bot” revoked" in html and "revoked" in html
    assert revoke_url(key) not in html  # no revoke button on a revoked key


def test_htmx_revoke_returns_only_the_keys_panel(engineer_client: Client, project: Project) -> None:
    key, _ = api_key_create(project=project, name="old-bot")
    html = engineer_client.post(revoke_url(key), HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="keys-panel"') and "Key “old-bot” revoked" in html


@pytest.mark.parametrize("scope", ["approve", "admin"])
def test_an_engineer_may_not_revoke_a_key_whose_scope_they_could_not_grant(
    engineer_client: Client, project: Project, scope: str
) -> None:
    key, secret = api_key_create(project=project, name="owners-client", scopes=[scope], operator=True)
    response = engineer_client.post(revoke_url(key), HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert f"can revoke a key with the {scope} scope" in response.content.decode()
    assert api_key_authenticate(secret=secret) is not None


def test_an_owner_revokes_an_approve_key(login: Callable[[User], Client], owner: User, project: Project) -> None:
    key, secret = api_key_create(project=project, name="approvals", scopes=["approve"], created_by=owner)
    assert login(owner).post(revoke_url(key)).status_code == 302
    assert api_key_authenticate(secret=secret) is None


def test_revoke_asks_for_confirmation(engineer_client: Client, project: Project) -> None:
    api_key_create(project=project, name="old-bot")
    assert 'hx-confirm="Revoke “old-bot”?' in engineer_client.get(URL).content.decode()


def test_revoke_is_post_only(engineer_client: Client, project: Project) -> None:
    key, _ = api_key_create(project=project, name="old-bot")
    assert engineer_client.get(revoke_url(key)).status_code == 405


def test_another_projects_key_is_404(engineer_client: Client, other_project: Project) -> None:
    key, secret = api_key_create(project=other_project, name="globex-bot")
    assert engineer_client.post(f"/p/acme/keys/{key.id}/revoke/").status_code == 404
    assert api_key_authenticate(secret=secret) is not None


def test_a_viewer_gets_403(login: Callable[[User], Client], viewer: User, project: Project) -> None:
    client = login(viewer)
    key, _ = api_key_create(project=project, name="bot")
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "sneaky", "scopes": ["read"]}).status_code == 403
    assert client.post(revoke_url(key)).status_code == 403
    key.refresh_from_db()
    assert key.is_active and ApiKey.objects.count() == 1


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User) -> None:
    assert login(outsider).get(URL).status_code == 404


def test_delete_is_405(engineer_client: Client) -> None:
    assert engineer_client.delete(URL).status_code == 405
