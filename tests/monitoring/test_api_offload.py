"""GET /api/v1/offload: the period's figures, by day and by task; 422 on bad dates; the read scope."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.serving.models import Deployment
from tests.monitoring.conftest import NOW, expected

URL = "/api/v1/offload"


@pytest.fixture(autouse=True)
def _stored(traffic: Callable[[], None]) -> None:
    traffic()


def money(value: object) -> object:
    return pytest.approx(float(value), abs=1e-7)  # type: ignore[arg-type]


def test_the_figures_equal_sums_over_the_stored_calls(api_client: Client, project: Project, task: TaskCluster) -> None:
    since, until = NOW - timedelta(hours=24), NOW + timedelta(minutes=1)
    response = api_client.get(URL, {"since": since.isoformat(), "until": until.isoformat()})
    assert response.status_code == 200, response.content
    body, want = response.json(), expected(project, task, since, until)
    for name in ("calls", "specialist_calls", "escalated_calls", "shadow_calls", "llm_calls"):
        assert body[name] == want[name], name
    for name in ("cost", "cost_all_llm", "saved"):
        assert float(body[name]) == money(want[name]), name
    assert body["share_offloaded"] == want["specialist_calls"] / want["calls"]
    assert sum(day["calls"] for day in body["by_day"]) == want["calls"]
    assert float(body["saved_per_month"]) == money(float(want["saved"]) / ((until - since) / timedelta(days=1)) * 30)


def test_by_task_names_the_task_its_state_and_deployment(
    api_client: Client, task: TaskCluster, deployment: Deployment
) -> None:
    rows = api_client.get(URL).json()["by_task"]
    mine = next(row for row in rows if row["task"] == str(task.id))
    assert mine["state"] == "Live at 100%" and mine["deployment"] == str(deployment.id)
    assert mine["specialist_calls"] == 4 and mine["shadow_agreement"] == 0.5
    assert mine["evaluated_agreement_low"] < mine["evaluated_agreement_high"]
    assert rows[-1]["task"] is None and rows[-1]["state"] == "LLM only"


def test_the_period_defaults_to_the_last_7_days(api_client: Client) -> None:
    body = api_client.get(URL).json()
    assert body["calls"] == 10 and body["specialist_calls"] == 4


def test_an_older_period_has_only_its_calls(api_client: Client) -> None:
    since, until = NOW - timedelta(days=11), NOW - timedelta(days=9)
    body = api_client.get(URL, {"since": since.isoformat(), "until": until.isoformat()}).json()
    assert (body["calls"], body["specialist_calls"]) == (1, 1)
    assert float(body["cost"]) == money(0.0001)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40"}, "until"),
        ({"since": NOW.isoformat(), "until": (NOW - timedelta(days=1)).isoformat()}, "until"),
        ({"since": (NOW - timedelta(days=400)).isoformat()}, "since"),
        ({"since": "2026-11-20T00:00:00-21:00"}, "since"),  # offsets end at -18:00
    ],
)
def test_bad_dates_are_a_422_naming_the_field(api_client: Client, params: dict[str, str], field: str) -> None:
    response = api_client.get(URL, params)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_a_key_without_the_read_scope_is_a_403(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="ingest only", scopes=["ingest"])
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and "'read' scope" in response.json()["message"]


def test_no_key_is_a_401(client: Client) -> None:
    assert client.get(URL).status_code == 401


def test_another_projects_key_sees_none_of_these_calls(client: Client, other_project: Project) -> None:
    _, secret = api_key_create(project=other_project, name="other")
    body = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    assert body["calls"] == 0 and body["by_day"] == [] and body["share_offloaded"] is None


def test_post_is_a_405(api_client: Client) -> None:
    assert api_client.post(URL).status_code == 405


def test_the_schema_is_in_openapi(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    assert "get_offload" in str(schema["paths"]["/api/v1/offload"])
    assert {"by_day", "by_task", "cost_all_llm", "saved"} <= set(
        schema["components"]["schemas"]["OffloadOut"]["properties"]
    )
