"""The raw JSON of one call: the whole stored call, in the API's shape, for the people of its project."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.projects.models import Project
from tests.conftest import make_call


def stored(project: Project, **fields: Any) -> Call:
    result = calls_ingest(project=project, batch=Batch(records=[(0, make_call(**fields))]))
    assert result.accepted == 1, result.rejected
    return Call.objects.filter(project=project).latest("received_at")


def url(call: Call) -> str:
    return f"/p/{call.project.slug}/calls/{call.id}/json/"


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def test_the_whole_call_is_returned_as_json_inline(viewer_client: Client, project: Project) -> None:
    call = stored(project, id="raw-1", metadata={"tenant": "eu"})
    response = viewer_client.get(url(call))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response
    body = response.json()
    assert body["id"] == str(call.id) and body["client_id"] == "raw-1"
    assert body["request"] == call.request and body["response"] == call.response
    assert body["metadata"] == {"tenant": "eu"} and body["pii_counts"] == {}


def test_download_saves_it_as_a_file(viewer_client: Client, project: Project) -> None:
    call = stored(project)
    response = viewer_client.get(url(call), {"download": "1"})
    assert response["Content-Disposition"] == f'attachment; filename="call-{call.id}.json"'


def test_the_call_page_links_to_it(viewer_client: Client, project: Project) -> None:
    call = stored(project)
    html = viewer_client.get(f"/p/acme/calls/{call.id}/").content.decode()
    assert f'href="{url(call)}"' in html


def test_another_projects_call_is_404(viewer_client: Client, other_project: Project) -> None:
    call = stored(other_project)
    assert viewer_client.get(f"/p/acme/calls/{call.id}/json/").status_code == 404


def test_an_unknown_id_is_404(viewer_client: Client, project: Project) -> None:
    assert viewer_client.get(f"/p/acme/calls/{uuid.uuid4()}/json/").status_code == 404


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(url(stored(project)))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User, project: Project) -> None:
    assert login(outsider).get(url(stored(project))).status_code == 404


def test_post_is_405(viewer_client: Client, project: Project) -> None:
    assert viewer_client.post(url(stored(project))).status_code == 405
