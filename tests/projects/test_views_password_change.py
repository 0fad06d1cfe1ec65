from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import OneTimePassword

URL = "/account/password/"
OLD = "pw-for-tests"  # conftest's make_user


@pytest.fixture
def holder(make_user: Callable[..., User]) -> User:
    user = make_user("newcomer")
    OneTimePassword.objects.create(user=user)
    return user


def change(client: Client, old: str, new: str, again: str | None = None, **extra: str) -> tuple[int, str]:
    data = {"old_password": old, "new_password1": new, "new_password2": new if again is None else again, **extra}
    response = client.post(URL, data)
    return response.status_code, response.content.decode() if response.status_code != 302 else response["Location"]


def test_anonymous_is_sent_to_log_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={URL}"


def test_the_page_says_why_to_a_one_time_password_holder(login: Callable[[User], Client], holder: User) -> None:
    html = login(holder).get(URL).content.decode()
    assert "Choose your own password" in html and 'name="old_password"' in html and 'action="/logout/"' in html


def test_anyone_may_change_their_password(login: Callable[[User], Client], engineer: User) -> None:
    client = login(engineer)
    assert "Change your password" in client.get(URL).content.decode()

    assert change(client, OLD, "a fresh secret 77") == (302, "/")
    engineer.refresh_from_db()
    assert engineer.check_password("a fresh secret 77") and not engineer.check_password(OLD)


@pytest.mark.parametrize(
    ("old", "new", "again", "message"),
    [
        ("wrong", "a fresh secret 77", None, "Your old password was entered incorrectly"),
        (OLD, "a fresh secret 77", "another one 77", "The two password fields didn"),
        (OLD, "short", None, "This password is too short"),
        (OLD, OLD, None, "Choose a new password, not the one you logged in with"),
    ],
)
def test_a_bad_change_is_400_and_keeps_the_one_time_password(
    login: Callable[[User], Client], holder: User, old: str, new: str, again: str | None, message: str
) -> None:
    status, html = change(login(holder), old, new, again)

    assert status == 400 and message in html
    holder.refresh_from_db()
    assert holder.check_password(OLD) and OneTimePassword.objects.filter(user=holder).exists()


def test_success_clears_the_one_time_password_and_keeps_the_session(
    login: Callable[[User], Client], holder: User
) -> None:
    client = login(holder)

    assert change(client, OLD, "a fresh secret 77", next="/p/acme/") == (302, "/p/acme/")
    assert not OneTimePassword.objects.filter(user=holder).exists()
    assert client.get("/").status_code == 200


def test_next_may_not_leave_the_site(login: Callable[[User], Client], holder: User) -> None:
    assert change(login(holder), OLD, "a fresh secret 77", next="https://evil.example/") == (302, "/")


def test_wrong_method_is_not_allowed(login: Callable[[User], Client], holder: User) -> None:
    assert login(holder).put(URL).status_code == 405


def test_every_page_offers_the_change_in_the_account_menu(login: Callable[[User], Client], engineer: User) -> None:
    html = login(engineer).get("/p/acme/").content.decode()
    assert f'href="{URL}">Change password</a>' in html
