"""A member added with a generated password must choose their own at first login, before any page."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import OneTimePassword, Project, Role
from apps.projects.services import member_add

CHANGE = "/account/password/"


@pytest.fixture
def one_time(project: Project) -> tuple[User, str]:
    """A new member, as an admin's "Add a person" creates them."""
    membership, password = member_add(project=project, username="newcomer", role=Role.ENGINEER)
    assert password
    return membership.user, password


def log_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, "the login should succeed"
    return client


def test_adding_a_new_person_marks_the_password_one_time(
    login: Callable[[User], Client], admin_user: User, project: Project
) -> None:
    html = login(admin_user).post("/p/acme/members/", {"username": "newcomer", "role": "viewer"}).content.decode()

    assert '<code id="new-password">' in html
    assert OneTimePassword.objects.filter(user__username="newcomer").exists()


def test_adding_an_existing_person_leaves_their_password_alone(
    project: Project, make_user: Callable[..., User]
) -> None:
    pat = make_user("pat")
    _, password = member_add(project=project, username="pat", role=Role.VIEWER)

    assert password is None and not OneTimePassword.objects.filter(user=pat).exists()


@pytest.mark.parametrize("page", ["/", "/p/acme/calls/", "/p/acme/members/", "/p/acme/keys/", "/admin/"])
def test_every_page_sends_a_one_time_password_holder_to_change_it(one_time: tuple[User, str], page: str) -> None:
    client = log_in("newcomer", one_time[1])

    response = client.get(page)

    assert response.status_code == 302 and response["Location"] == f"{CHANGE}?next={page}"


def test_the_login_lands_on_the_change_page(one_time: tuple[User, str]) -> None:
    client = Client()
    response = client.post("/login/", {"username": "newcomer", "password": one_time[1]}, follow=True)

    assert response.redirect_chain[-1][0].startswith(CHANGE)
    assert response.status_code == 200 and "Choose your own password" in response.content.decode()


def test_an_htmx_request_sends_the_browser_itself(one_time: tuple[User, str]) -> None:
    client = log_in("newcomer", one_time[1])

    response = client.get("/p/acme/calls/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/p/acme/")

    assert response.status_code == 200 and response["HX-Redirect"] == f"{CHANGE}?next=/p/acme/"


def test_a_post_is_refused_too(one_time: tuple[User, str]) -> None:
    client = log_in("newcomer", one_time[1])

    response = client.post("/p/acme/keys/", {"name": "sneaky"})

    assert response.status_code == 302 and response["Location"] == CHANGE
    assert not one_time[0].memberships.get().project.api_keys.exists()


def test_logging_out_static_files_and_the_api_are_not_held_back(one_time: tuple[User, str]) -> None:
    client = log_in("newcomer", one_time[1])

    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302 and client.get("/")["Location"].startswith("/login/")


def test_after_choosing_a_password_the_app_opens_and_the_one_time_password_is_dead(
    one_time: tuple[User, str],
) -> None:
    user, password = one_time
    client = log_in("newcomer", password)

    response = client.post(
        CHANGE,
        {"old_password": password, "new_password1": "my own secret 42", "new_password2": "my own secret 42",
         "next": "/p/acme/calls/"},
    )  # fmt: skip

    assert response.status_code == 302 and response["Location"] == "/p/acme/calls/"
    assert client.get("/p/acme/calls/").status_code == 200  # still logged in, no detour
    assert client.get("/p/acme/members/").status_code == 200
    assert not OneTimePassword.objects.filter(user=user).exists()
    refused = Client().post("/login/", {"username": "newcomer", "password": password})
    assert refused.status_code == 200 and "correct username and password" in refused.content.decode()
    log_in("newcomer", "my own secret 42")


def test_a_person_without_a_one_time_password_goes_where_they_asked(
    login: Callable[[User], Client], engineer: User
) -> None:
    assert login(engineer).get("/p/acme/calls/").status_code == 200
