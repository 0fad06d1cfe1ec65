import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from apps.discovery import pipeline
from apps.discovery.models import DiscoveryRun
from apps.projects.models import Project
from apps.projects.services import api_key_create

URL = "/api/v1/discovery-runs"


def post(client: Client, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def test_starts_a_run_and_queues_it_after_commit(
    api_client: Client, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api_client, {})
    assert response.status_code == 202
    body = response.json()
    run = DiscoveryRun.objects.get(project=project)
    assert body["id"] == str(run.id)
    assert (body["kind"], body["status"], body["progress"], body["clusters_found"]) == ("full", "queued", 0.0, 0)
    assert len(callbacks) == 1
    with mock.patch("apps.discovery.tasks.discovery_run_execute_task.apply_async") as apply_async:
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(run.id)])


def test_the_window_agents_and_smallest_task_reach_the_run(api_client: Client, project: Project) -> None:
    body = {
        "since": "2026-03-01T00:00:00Z",
        "until": "2026-03-08T00:00:00Z",
        "agents": ["support-bot", "router"],
        "min_cluster_size": 10,
    }
    response = post(api_client, body)
    assert response.status_code == 202
    out = response.json()
    assert out["since"].startswith("2026-03-01T00:00:00") and out["until"].startswith("2026-03-08T00:00:00")
    assert out["agents"] == ["support-bot", "router"]
    assert DiscoveryRun.objects.get(id=out["id"]).min_cluster_size == 10


def test_a_second_run_while_one_is_queued_is_409(api_client: Client) -> None:
    assert post(api_client, {}).status_code == 202
    response = post(api_client, {})
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "already queued" in response.json()["message"]


def test_another_project_running_discovery_does_not_block_this_one(api_client: Client, other_project: Project) -> None:
    DiscoveryRun.objects.create(project=other_project, status="running")
    assert post(api_client, {}).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_cluster_size": "many"}, "min_cluster_size"),
        ({"since": "last tuesday"}, "since"),
        ({"since": "2026-03-08T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
        ({"agents": "support-bot"}, "agents"),
        ({"clusters": 3}, "clusters"),
        ({"agents": ["support\x00bot"]}, "agents"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(api_client: Client, body: dict[str, Any], field: str) -> None:
    response = post(api_client, body)
    assert response.status_code in (400, 422)
    assert response.json()["errors"][0]["field"] == field
    assert not DiscoveryRun.objects.exists()


def test_a_body_that_is_not_json_is_422(api_client: Client) -> None:
    response = api_client.post(URL, "nope", content_type="application/json")
    assert response.status_code in (400, 422)
    assert not DiscoveryRun.objects.exists()


def test_no_key_is_401(client: Client, project: Project) -> None:
    assert post(client, {}).status_code == 401
    assert not DiscoveryRun.objects.exists()


def test_a_key_without_the_discover_scope_is_403(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="reader", scopes=["ingest", "read"])
    response = post(client, {}, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    assert "discover" in response.json()["message"]
    assert not DiscoveryRun.objects.exists()


def test_wrong_method_is_405(api_client: Client, project: Project) -> None:
    run = DiscoveryRun.objects.create(project=project)
    assert api_client.get(URL).status_code == 405
    assert api_client.delete(f"{URL}/{run.id}").status_code == 405


def test_gets_a_run_with_its_progress(api_client: Client, project: Project) -> None:
    run = DiscoveryRun.objects.create(
        project=project, status="running", stage="clustering", progress=0.6, message="Clustering 120 calls"
    )
    response = api_client.get(f"{URL}/{run.id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["stage"], body["progress"], body["message"]) == (
        "running",
        "clustering",
        0.6,
        "Clustering 120 calls",
    )


def test_another_projects_run_is_404(api_client: Client, other_project: Project) -> None:
    run = DiscoveryRun.objects.create(project=other_project)
    response = api_client.get(f"{URL}/{run.id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("run_id", ["12", "3f0e0c9e-6a43-4f7c-9d84-2f7bb1d2c001"])
def test_an_unknown_or_malformed_run_id_is_404(api_client: Client, run_id: str) -> None:
    assert api_client.get(f"{URL}/{run_id}").status_code == 404


def test_reading_a_run_needs_a_key_with_the_read_scope(client: Client, project: Project) -> None:
    run = DiscoveryRun.objects.create(project=project)
    assert client.get(f"{URL}/{run.id}").status_code == 401
    _, secret = api_key_create(project=project, name="writer", scopes=["ingest", "discover"])
    assert client.get(f"{URL}/{run.id}", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403


def test_a_run_end_to_end_finds_the_tasks_and_labels_the_calls(
    api_client: Client, sample_calls: Project, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks():
        started = post(api_client, {"min_cluster_size": 10})
    assert started.status_code == 202
    run_id = started.json()["id"]

    pipeline.discovery_run_execute(run_id=run_id)  # what the worker does with the queued message

    run = api_client.get(f"{URL}/{run_id}").json()
    assert run["status"] == "succeeded", run["error"]
    assert (run["clusters_found"], run["calls_total"], run["progress"]) == (3, 120, 1.0)
    assert set(run["timings"]) == {"reading", "clustering", "describing"}

    clusters = api_client.get("/api/v1/clusters").json()["items"]
    assert len(clusters) == 3
    assert sum(c["stats"]["calls"] for c in clusters) == 120 - run["unassigned"] == 120
    assert {c["output_kind"] for c in clusters} == {"label", "sql", "json"}

    calls = api_client.get("/api/v1/calls", {"limit": 500}).json()["items"]
    assert len(calls) == 120
    assert {c["cluster"] for c in calls} == {c["id"] for c in clusters}
    assert all(c["cluster_confidence"] is not None for c in calls)


def test_openapi_describes_the_discovery_endpoints(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert {
        "/api/v1/discovery-runs",
        "/api/v1/discovery-runs/{run_id}",
        "/api/v1/clusters",
        "/api/v1/clusters/{cluster_id}",
    } <= set(schema["paths"])
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"create_discovery_run", "get_discovery_run", "list_clusters", "get_cluster"} <= operations
    assert client.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"since": "2026-01-01T00:00:00-21:00"}, "since", "UTC offsets range from -18:00 to +18:00"),
        ({"until": "2026-01-01T00:00:00+18:30"}, "until", "UTC offsets range from -18:00 to +18:00"),
        ({"min_cluster_size": 2**31}, "min_cluster_size", "Input should be less than or equal to 2147483647"),
    ],
)
def test_an_impossible_window_or_size_is_422_naming_the_field(
    api_client: Client, body: dict[str, Any], field: str, message: str
) -> None:
    response = post(api_client, body)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": field, "message": message}]
    assert not DiscoveryRun.objects.exists()
