from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from tests.conftest import make_call


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


@pytest.fixture
def calls(project: Project, ingest: Callable[..., int]) -> list[Call]:
    ingest([make_call(id=f"c{i}") for i in range(30)])
    return list(Call.objects.filter(project=project).order_by("client_id"))


def test_a_call_page_links_to_its_task_with_the_fit(
    viewer_client: Client, calls: list[Call], make_cluster: Callable[..., TaskCluster]
) -> None:
    task = make_cluster(calls=calls[:1], name="Ticket triage")
    html = viewer_client.get(f"/p/acme/calls/{calls[0].id}/").content.decode()
    assert f'href="/p/acme/tasks/{task.id}/"' in html and "T1 Ticket triage" in html and "90% fit" in html
    assert "not sorted yet" in viewer_client.get(f"/p/acme/calls/{calls[1].id}/").content.decode()


def test_the_call_log_shows_each_calls_task_without_a_query_per_row(
    viewer_client: Client,
    calls: list[Call],
    make_cluster: Callable[..., TaskCluster],
    django_assert_max_num_queries: Any,
) -> None:
    first, second = make_cluster(calls=calls[:10], name="Ticket triage"), make_cluster(calls=calls[10:20])
    with django_assert_max_num_queries(12):
        html = viewer_client.get("/p/acme/calls/").content.decode()
    assert "<th>Task</th>" in html
    assert html.count(f'href="/p/acme/tasks/{first.id}/"') == 10
    assert html.count(f'href="/p/acme/tasks/{second.id}/"') == 10
