"""The offload page (/p/<slug>/offload/): the period's figures, charts and tables; its period picker; its
empty state; and the project's home, which is this page once a deployment exists."""

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.serving.models import Deployment
from tests.monitoring.conftest import NOW, expected

URL = "/p/acme/offload/"


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def figure(body: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', body)
    assert found, name
    return found.group(1)


def usd(value: object) -> str:
    from apps.common.templatetags.ui import usd as shown

    return shown(value)  # type: ignore[arg-type]


def test_the_page_shows_the_periods_figures(
    viewer_client: Client, traffic: Callable[[], None], project: Project, task: TaskCluster
) -> None:
    traffic()
    response = viewer_client.get(URL, {"period": "24h"})
    assert response.status_code == 200
    body = response.content.decode()
    want = expected(project, task, NOW - timedelta(hours=24), NOW + timedelta(minutes=1))
    assert figure(body, "calls") == str(want["calls"])
    assert figure(body, "share_offloaded") == f"{want['specialist_calls'] / want['calls'] * 100:.1f}%"
    for name in ("cost", "cost_all_llm", "saved"):
        assert figure(body, name) == usd(want[name]), name
    assert 'class="chart chart-area"' in body and "Gateway calls per hour by route" in body
    assert "Agreement with the LLM" in body
    assert "The answer is not one of the task&#x27;s labels" in body and "upstream answered HTTP 500" in body
    assert f'href="/p/acme/tasks/{task.id}/deployment/"' in body and "Live at 100%" in body


def test_the_period_picker_changes_the_period(viewer_client: Client, traffic: Callable[[], None]) -> None:
    traffic()
    assert figure(viewer_client.get(URL, {"period": "24h"}).content.decode(), "calls") == "9"
    week = viewer_client.get(URL).content.decode()
    assert figure(week, "calls") == "10" and "Gateway calls per day by route" in week
    assert figure(viewer_client.get(URL, {"period": "30d"}).content.decode(), "calls") == "11"
    old = (NOW - timedelta(days=10)).date().isoformat()
    custom = viewer_client.get(URL, {"period": "custom", "since": old, "until": old}).content.decode()
    assert figure(custom, "calls") == "1" and figure(custom, "cost") == "$0.00010"


def test_a_bad_custom_period_is_a_400_showing_the_last_7_days(
    viewer_client: Client, traffic: Callable[[], None]
) -> None:
    traffic()
    response = viewer_client.get(URL, {"period": "custom", "since": "2026-05-02", "until": "2026-05-01"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "since must be before until" in body and figure(body, "calls") == "10"
    assert viewer_client.get(URL, {"period": "custom"}).status_code == 400


def test_with_no_gateway_traffic_the_page_says_how_to_send_some(viewer_client: Client, project: Project) -> None:
    body = viewer_client.get(URL).content.decode()
    assert 'id="no-gateway-traffic"' in body
    assert "manage.py replay_traffic --project acme" in body and "data-figure" not in body


def test_htmx_gets_the_fragment(viewer_client: Client, traffic: Callable[[], None]) -> None:
    traffic()
    body = viewer_client.get(URL, {"period": "7d"}, HTTP_HX_REQUEST="true").content.decode()
    assert body.lstrip().startswith('<div id="offload-body">') and "<html" not in body


def test_an_outsider_gets_a_404_and_a_visitor_the_login(
    login: Callable[[User], Client], outsider: User, client: Client
) -> None:
    assert client.get(URL).status_code == 302
    assert login(outsider).get(URL).status_code == 404


def test_post_is_a_405(viewer_client: Client) -> None:
    assert viewer_client.post(URL).status_code == 405


def test_the_home_is_the_dashboard_until_a_deployment_exists(
    viewer_client: Client, project: Project, request: pytest.FixtureRequest
) -> None:
    home = viewer_client.get("/p/acme/")
    assert home.status_code == 200 and 'href="/p/acme/offload/"' in home.content.decode()
    request.getfixturevalue("deployment")
    moved = viewer_client.get("/p/acme/")
    assert moved.status_code == 302 and moved["Location"] == URL
    assert viewer_client.get("/p/acme/dashboard/").status_code == 200


def test_a_deployed_project_with_no_traffic_yet_still_says_how_to_send_some(
    viewer_client: Client, deployment: Deployment
) -> None:
    body = viewer_client.get(URL).content.decode()
    assert 'id="no-gateway-traffic"' in body
