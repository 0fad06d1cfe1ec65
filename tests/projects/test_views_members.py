from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import Membership, Project, Role

URL = "/p/acme/members/"


@pytest.fixture
def admin_client(login: Callable[[User], Client], admin_user: User) -> Client:
    return login(admin_user)


def role_of(project: Project, user: User) -> str | None:
    membership = Membership.objects.filter(project=project, user=user).first()
    return membership.role if membership else None


def test_everyone_in_the_project_sees_the_members(
    login: Callable[[User], Client], viewer: User, admin_user: User, engineer: User
) -> None:
    html = login(viewer).get(URL).content.decode()
    assert "admin" in html and "engineer" in html and "viewer" in html and "(you)" in html
    assert "Add a person" not in html and "/remove/" not in html  # no admin controls for a viewer


def test_an_admin_sees_the_controls(admin_client: Client, engineer: User) -> None:
    html = admin_client.get(URL).content.decode()
    assert "Add a person" in html
    assert 'action="/p/acme/members/engineer/role/"' in html and 'action="/p/acme/members/engineer/remove/"' in html


def test_adding_an_existing_person(admin_client: Client, project: Project, make_user: Callable[..., User]) -> None:
    pat = make_user("pat")
    response = admin_client.post(URL, {"username": "pat", "role": Role.ENGINEER})
    html = response.content.decode()
    assert response.status_code == 200 and "is now Engineer in Acme" in html
    assert "one-time password" not in html
    assert role_of(project, pat) == Role.ENGINEER


def test_adding_a_new_person_creates_an_account_with_a_one_time_password(
    admin_client: Client, project: Project, client: Client
) -> None:
    html = admin_client.post(URL, {"username": "newcomer", "email": "n@example.com", "role": "viewer"}).content.decode()
    password = html.split('<code id="new-password">')[1].split("</code>")[0]
    newcomer = User.objects.get(username="newcomer")
    assert newcomer.email == "n@example.com" and role_of(project, newcomer) == Role.VIEWER
    assert newcomer.check_password(password)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "", "role": "viewer"}, "This field is required."),
        ({"username": "pat", "role": "emperor"}, "Select a valid choice. emperor is not one of the available choices."),
        ({"username": "pat", "role": "viewer", "email": "not-an-email"}, "Enter a valid email address."),
    ],
)
def test_bad_input_is_400_with_the_form_error(admin_client: Client, data: dict[str, str], message: str) -> None:
    response = admin_client.post(URL, data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not User.objects.filter(username="pat").exists()


def test_htmx_add_returns_only_the_members_panel(admin_client: Client) -> None:
    html = admin_client.post(URL, {"username": "pat", "role": "viewer"}, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="members-panel"') and "<html" not in html and "pat" in html


def test_changing_a_role(admin_client: Client, project: Project, engineer: User) -> None:
    response = admin_client.post(f"{URL}engineer/role/", {"role": Role.OWNER})
    assert response.status_code == 302 and response["Location"] == URL
    assert role_of(project, engineer) == Role.OWNER
    assert "engineer is now Owner." in admin_client.get(URL).content.decode()


def test_htmx_role_change_returns_only_the_members_panel(
    admin_client: Client, project: Project, engineer: User
) -> None:
    response = admin_client.post(f"{URL}engineer/role/", {"role": Role.VIEWER}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="members-panel"') and "engineer is now Viewer." in html
    assert role_of(project, engineer) == Role.VIEWER


def test_an_unknown_role_is_400(admin_client: Client, project: Project, engineer: User) -> None:
    response = admin_client.post(f"{URL}engineer/role/", {"role": "emperor"})
    assert response.status_code == 400 and "Choose a valid role for engineer." in response.content.decode()
    assert role_of(project, engineer) == Role.ENGINEER


def test_the_last_admin_cannot_step_down_or_leave(admin_client: Client, project: Project, admin_user: User) -> None:
    for response in (
        admin_client.post(f"{URL}admin/role/", {"role": "viewer"}),
        admin_client.post(f"{URL}admin/remove/"),
    ):
        assert response.status_code == 409
        assert "A project needs at least one admin; make someone else admin first" in response.content.decode()
    assert role_of(project, admin_user) == Role.ADMIN


def test_removing_a_member(admin_client: Client, project: Project, engineer: User) -> None:
    response = admin_client.post(f"{URL}engineer/remove/")
    assert response.status_code == 302 and role_of(project, engineer) is None
    assert "engineer was removed from Acme." in admin_client.get(URL).content.decode()


def test_an_admin_who_leaves_goes_back_to_the_project_list(
    admin_client: Client, project: Project, admin_user: User, owner: User
) -> None:
    admin_client.post(f"{URL}owner/role/", {"role": Role.ADMIN})
    response = admin_client.post(f"{URL}admin/remove/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert role_of(project, admin_user) is None


def test_removing_someone_who_is_not_a_member_is_404(admin_client: Client, make_user: Callable[..., User]) -> None:
    make_user("stranger")
    assert admin_client.post(f"{URL}stranger/remove/").status_code == 404
    assert admin_client.post(f"{URL}nobody/role/", {"role": "viewer"}).status_code == 404


def test_without_manage_members_changes_are_403(
    login: Callable[[User], Client], owner: User, engineer: User, project: Project
) -> None:
    client = login(owner)
    assert client.post(URL, {"username": "pat", "role": "viewer"}).status_code == 403
    assert client.post(f"{URL}engineer/role/", {"role": "admin"}).status_code == 403
    assert client.post(f"{URL}engineer/remove/").status_code == 403
    assert role_of(project, engineer) == Role.ENGINEER and not User.objects.filter(username="pat").exists()


def test_role_and_remove_are_post_only(admin_client: Client, engineer: User) -> None:
    assert admin_client.get(f"{URL}engineer/role/").status_code == 405
    assert admin_client.get(f"{URL}engineer/remove/").status_code == 405


def test_htmx_get_returns_only_the_members_panel(admin_client: Client) -> None:
    html = admin_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="members-panel"') and "<html" not in html


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User) -> None:
    client = login(outsider)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"username": "pat", "role": "admin"}).status_code == 404
