from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.conftest import make_call

URL = "/api/v1/calls"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def ingest(project: Project, calls: list[dict[str, Any]]) -> None:
    assert calls_ingest(project=project, batch=Batch(records=list(enumerate(calls)))).accepted == len(calls)


@pytest.fixture
def calls(project: Project) -> None:
    records = []
    for i in range(7):
        record = make_call(
            id=f"c{i}", agent="billing" if i % 2 else "router", timestamp=(T0 + timedelta(hours=i)).isoformat()
        )
        record["request"]["model"] = "gpt-4o-mini" if i < 3 else "gpt-4o"
        records.append(record)
    ingest(project, records)


def ids(response: Any) -> list[str]:
    return [item["client_id"] for item in response.json()["items"]]


def test_lists_newest_first_and_pages_with_a_cursor(api_client: Client, calls: None) -> None:
    first = api_client.get(URL, {"limit": 3})
    assert first.status_code == 200
    assert ids(first) == ["c6", "c5", "c4"]
    second = api_client.get(URL, {"limit": 3, "cursor": first.json()["next_cursor"]})
    assert ids(second) == ["c3", "c2", "c1"]
    last = api_client.get(URL, {"limit": 3, "cursor": second.json()["next_cursor"]})
    assert ids(last) == ["c0"] and last.json()["next_cursor"] is None


def test_pages_do_not_skip_calls_with_the_same_timestamp(api_client: Client, project: Project) -> None:
    ingest(project, [make_call(id=f"s{i}", timestamp=T0.isoformat()) for i in range(5)])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api_client.get(URL, params).json()
        seen += [item["client_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"s{i}" for i in range(5)]


def test_filters_by_agent_model_and_time(api_client: Client, calls: None) -> None:
    assert ids(api_client.get(URL, {"agent": "billing"})) == ["c5", "c3", "c1"]
    assert ids(api_client.get(URL, {"model": "gpt-4o-mini"})) == ["c2", "c1", "c0"]
    window = {"since": (T0 + timedelta(hours=2)).isoformat(), "until": (T0 + timedelta(hours=4)).isoformat()}
    assert ids(api_client.get(URL, window)) == ["c3", "c2"]


def test_filters_by_workload(api_client: Client, project: Project) -> None:
    ingest(project, [make_call(id="w1", workload="triage"), make_call(id="w2", workload="sql")])
    assert ids(api_client.get(URL, {"workload": "sql"})) == ["w2"]


def test_items_summarise_the_call(api_client: Client, calls: None) -> None:
    item = api_client.get(URL, {"limit": 1}).json()["items"][0]
    assert item["model"] == "gpt-4o" and item["prompt_tokens"] == 1000 and item["preview"]
    assert "request" not in item


@pytest.fixture
def task(project: Project, calls: None) -> TaskCluster:
    """A task holding c1 and c2."""
    cluster = TaskCluster.objects.create(project=project, number=1, name="Billing")
    Call.objects.filter(project=project, client_id__in=["c1", "c2"]).update(
        task_cluster=cluster, cluster_confidence=0.8
    )
    return cluster


def test_calls_show_their_task_or_null(api_client: Client, task: TaskCluster) -> None:
    items = {item["client_id"]: item for item in api_client.get(URL).json()["items"]}
    assert (items["c1"]["cluster"], items["c1"]["cluster_confidence"]) == (str(task.id), 0.8)
    assert (items["c0"]["cluster"], items["c0"]["cluster_confidence"]) == (None, None)
    one = api_client.get(f"{URL}/{items['c2']['id']}").json()
    assert (one["cluster"], one["cluster_confidence"]) == (str(task.id), 0.8)


def test_filters_by_task_or_no_task(api_client: Client, task: TaskCluster, other_project: Project) -> None:
    assert ids(api_client.get(URL, {"cluster": str(task.id)})) == ["c2", "c1"]
    assert ids(api_client.get(URL, {"cluster": "none"})) == ["c6", "c5", "c4", "c3", "c0"]
    theirs = TaskCluster.objects.create(project=other_project, number=1, name="Theirs")
    assert ids(api_client.get(URL, {"cluster": str(theirs.id)})) == []


def test_another_projects_calls_are_not_listed(api_client: Client, other_project: Project) -> None:
    ingest(other_project, [make_call(id="theirs")])
    assert ids(api_client.get(URL)) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"since": "last tuesday"}, "since"),
        ({"status": "maybe"}, "status"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cluster": "T1"}, "cluster"),
        ({"agent": "support\x00bot"}, "agent"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(api_client: Client, params: dict[str, Any], field: str) -> None:
    response = api_client.get(URL, params)
    assert response.status_code in (400, 422)
    assert response.json()["errors"][0]["field"] == field


def test_no_key_is_401(client: Client) -> None:
    assert client.get(URL).status_code == 401


def test_an_ingest_only_key_cannot_read(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="writer", scopes=["ingest"])
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403
