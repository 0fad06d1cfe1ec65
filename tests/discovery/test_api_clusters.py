from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery import selectors
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.conftest import make_call

URL = "/api/v1/clusters"


def stored(project: Project, n: int, **fields: Any) -> list[Call]:
    records = [make_call(**fields) for _ in range(n)]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    return list(Call.objects.filter(project=project, client_id__in=[r["id"] for r in records]))


def test_lists_the_active_tasks_with_their_statistics(
    api_client: Client, project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    sentiment = make_cluster(calls=stored(project, 3, agent="reviews"), name="Review sentiment")
    make_cluster(calls=stored(project, 1), output_kind="sql", labels=[])
    stored(project, 4)  # in no task

    response = api_client.get(URL)

    assert response.status_code == 200
    items = response.json()["items"]
    assert [c["code"] for c in items] == ["T1", "T2"]
    first = items[0]
    assert first["id"] == str(sentiment.id) and first["name"] == "Review sentiment"
    assert (first["output_kind"], first["output_kind_label"]) == ("label", "Label from a closed set")
    assert first["labels"] == ["positive", "negative"] and first["keywords"] == ["review", "sentiment"]
    assert (first["merged_into"], first["parent"], first["status"]) == (None, None, "active")
    stats = first["stats"]
    assert (stats["calls"], stats["share"], stats["prompt_tokens"], stats["completion_tokens"]) == (3, 0.375, 3000, 300)
    assert stats["latency_p50_ms"] == 420 and stats["prompt_tokens_p99"] == 1000
    assert stats["agents"] == ["reviews"]
    assert first["suitability"]["level"] in ("good", "fair", "poor") and first["suitability"]["reasons"]
    assert items[1]["stats"]["calls"] == 1 and items[1]["output_kind_label"] == "SQL"


def test_a_task_without_calls_has_zero_statistics(api_client: Client, make_cluster: Callable[..., TaskCluster]) -> None:
    make_cluster()
    stats = api_client.get(URL).json()["items"][0]["stats"]
    assert (stats["calls"], stats["share"], stats["cost"], stats["latency_p50_ms"]) == (0, 0.0, 0.0, None)


def test_statistics_are_read_once_for_the_whole_list(
    api_client: Client, make_cluster: Callable[..., TaskCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        make_cluster()
    seen: list[Any] = []
    real = selectors.cluster_stats

    def counting(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "cluster_stats", counting)
    assert len(api_client.get(URL).json()["items"]) == 3
    assert len(seen) == 1


def test_merged_tasks_show_only_when_asked_for(api_client: Client, make_cluster: Callable[..., TaskCluster]) -> None:
    kept = make_cluster()
    gone = make_cluster(status="merged", merged_into=kept)

    assert [c["id"] for c in api_client.get(URL).json()["items"]] == [str(kept.id)]
    merged = api_client.get(URL, {"status": "merged"}).json()["items"]
    assert [c["id"] for c in merged] == [str(gone.id)] and merged[0]["merged_into"] == str(kept.id)
    assert len(api_client.get(URL, {"status": "all"}).json()["items"]) == 2


def test_a_split_tasks_parts_name_their_parent(api_client: Client, make_cluster: Callable[..., TaskCluster]) -> None:
    parent = make_cluster(status="split")
    part = make_cluster(parent=parent)
    assert api_client.get(f"{URL}/{part.id}").json()["parent"] == str(parent.id)


def test_another_projects_tasks_are_not_listed(
    api_client: Client, other_project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    make_cluster(target=other_project)
    assert api_client.get(URL, {"status": "all"}).json()["items"] == []


def test_gets_one_task_with_its_statistics(
    api_client: Client, project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    calls = stored(project, 2)
    cluster = make_cluster(calls=calls, representatives=[str(calls[0].id)], description="Labels reviews")
    response = api_client.get(f"{URL}/{cluster.id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["code"], body["description"]) == (str(cluster.id), "T1", "Labels reviews")
    assert body["representatives"] == [str(calls[0].id)]
    assert body["stats"]["calls"] == 2 and body["stats"]["share"] == 1.0


def test_another_projects_task_is_404(
    api_client: Client, other_project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    cluster = make_cluster(target=other_project)
    response = api_client.get(f"{URL}/{cluster.id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("cluster_id", ["T1", "3f0e0c9e-6a43-4f7c-9d84-2f7bb1d2c001"])
def test_an_unknown_or_malformed_task_id_is_404(api_client: Client, cluster_id: str) -> None:
    assert api_client.get(f"{URL}/{cluster_id}").status_code == 404


def test_an_unknown_status_is_422_naming_the_field(api_client: Client) -> None:
    response = api_client.get(URL, {"status": "archived"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


def test_no_key_is_401(client: Client, make_cluster: Callable[..., TaskCluster]) -> None:
    cluster = make_cluster()
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}/{cluster.id}").status_code == 401


def test_an_ingest_only_key_is_403(client: Client, project: Project, make_cluster: Callable[..., TaskCluster]) -> None:
    cluster = make_cluster()
    _, secret = api_key_create(project=project, name="writer", scopes=["ingest"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get(URL, **auth).status_code == 403
    assert client.get(f"{URL}/{cluster.id}", **auth).status_code == 403


def test_wrong_method_is_405(api_client: Client, make_cluster: Callable[..., TaskCluster]) -> None:
    cluster = make_cluster()
    assert api_client.post(URL, "{}", content_type="application/json").status_code == 405
    assert api_client.delete(f"{URL}/{cluster.id}").status_code == 405
