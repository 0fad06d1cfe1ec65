"""The project's settings page: admins change its name and the webhook told of circuit-breaker trips;
other roles see them read-only and may not post."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import Project

pytestmark = pytest.mark.django_db
URL = "/p/acme/settings/"


def test_an_admin_sets_the_webhook_and_a_bad_url_is_refused(
    login: Callable[[User], Client], admin_user: User, project: Project
) -> None:
    client = login(admin_user)
    assert 'name="webhook_url"' in client.get(URL).content.decode()
    saved = client.post(URL, {"name": "Acme agents", "webhook_url": "https://hooks.example.com/downshift"})
    assert saved.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.webhook_url) == ("Acme agents", "https://hooks.example.com/downshift")
    bad = client.post(URL, {"name": "Acme agents", "webhook_url": "ftp://example.com/x"})
    assert bad.status_code == 400 and "has-error" in bad.content.decode()
    cleared = client.post(URL, {"name": "Acme agents", "webhook_url": ""})
    assert cleared.status_code == 302
    project.refresh_from_db()
    assert project.webhook_url == ""


def test_an_owner_sees_the_settings_and_may_not_change_them(
    login: Callable[[User], Client], owner: User, project: Project
) -> None:
    client = login(owner)
    body = client.get(URL).content.decode()
    assert "Only admins change these" in body and 'name="webhook_url"' not in body
    assert client.post(URL, {"name": "Mine", "webhook_url": ""}).status_code == 403
    project.refresh_from_db()
    assert project.name != "Mine"
