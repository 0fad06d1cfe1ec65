import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/p/acme/tasks/map/"


def ask(call_id: str, text: str) -> dict[str, Any]:
    return make_call(id=call_id, request={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


@pytest.fixture
def mapped(
    project: Project, ingest: Callable[..., int], make_cluster: Callable[..., TaskCluster]
) -> tuple[TaskCluster, TaskCluster, list[Call]]:
    """Four calls on the newest run's map: two in T1, one in T2, one in no task."""
    ingest([ask(f"c{i}", f"Is <this> review {i} happy?") for i in range(4)])
    calls = list(Call.objects.filter(project=project).order_by("client_id"))
    first = make_cluster(calls=calls[:2], name="Review sentiment")
    second = make_cluster(calls=calls[2:3], name="Text to SQL")
    points = [[float(i), float(i % 2), None, str(call.id)] for i, call in enumerate(calls)]
    DiscoveryRun.objects.create(
        project=project, status=JobStatus.SUCCEEDED, finished_at=timezone.now(), map_points=points
    )
    return first, second, calls


def test_without_a_run_the_map_says_how_to_get_one(viewer_client: Client) -> None:
    html = viewer_client.get(URL).content.decode()
    assert "No map yet" in html and '<svg class="chart chart-scatter"' not in html


def test_draws_each_call_as_a_link_coloured_by_its_task_with_a_tooltip(
    viewer_client: Client, mapped: tuple[TaskCluster, TaskCluster, list[Call]]
) -> None:
    first, second, calls = mapped
    response = viewer_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert html.count("<circle") == 4
    for call in calls:
        assert f'<a href="/p/acme/calls/{call.id}/"><circle' in html
    assert len(re.findall(r'class="chart-point chart-series-0"', html)) == 2
    assert len(re.findall(r'class="chart-point chart-series-1"', html)) == 1
    assert len(re.findall(r'class="chart-point-none"', html)) == 1
    # tooltips: the task and the call's (escaped) preview
    assert "<title>T1 Review sentiment\nIs &lt;this&gt; review 0 happy?</title>" in html
    assert "<title>No task\nIs &lt;this&gt; review 3 happy?</title>" in html
    # the legend links to each task, with its calls on the map
    assert f'href="/p/acme/tasks/{first.id}/"' in html and f'href="/p/acme/tasks/{second.id}/"' in html
    assert 'class="swatch swatch-0"' in html and 'class="swatch swatch-none"' in html


def test_with_htmx_only_the_map_comes_back(
    viewer_client: Client, mapped: tuple[TaskCluster, TaskCluster, list[Call]]
) -> None:
    html = viewer_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="map"') and "<circle" in html


def test_another_projects_map_is_not_shown(
    login: Callable[[User], Client], outsider: User, mapped: tuple[TaskCluster, TaskCluster, list[Call]]
) -> None:
    client = login(outsider)
    assert client.get(URL).status_code == 404
    assert "<circle" not in client.get("/p/globex/tasks/map/").content.decode()


def test_wrong_method_is_405(viewer_client: Client) -> None:
    assert viewer_client.post(URL).status_code == 405


def test_maps_a_real_run(login: Callable[[User], Client], viewer: User, discovered: Project) -> None:
    html = login(viewer).get(URL).content.decode()
    calls = Call.objects.filter(project=discovered).count()
    assert html.count("<circle") == calls
    for task in TaskCluster.objects.filter(project=discovered, status="active"):
        assert f'href="/p/acme/tasks/{task.id}/"' in html and f">{task.code}</text>" in html
