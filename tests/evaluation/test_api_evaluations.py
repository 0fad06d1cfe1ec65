"""POST /api/v1/evaluations (202), GET one, list them, cancel: the whole way through a fake endpoint."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.evaluation.tasks import evaluation_run_task
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.specialists.models import TrainingDataset, TrainingRun
from tests.evaluation.conftest import API_KEY, TASK_CALLS, sample_task
from tests.evaluation.fake_openai import FakeOpenAI, Oracle, error
from tests.specialists.selection_helpers import make_task

pytestmark = pytest.mark.django_db
URL = "/api/v1/evaluations"


def post(client: Client, body: dict[str, Any], path: str = URL, **headers: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def start(client: Client, cluster: TaskCluster, endpoint: ModelEndpoint, **extra: Any) -> Any:
    return post(client, {"cluster": str(cluster.id), "candidate": {"endpoint": str(endpoint.id)}, **extra})


def test_an_evaluation_through_the_api_from_endpoint_to_verdict(
    api_client: Client,
    sentiment_task: TaskCluster,
    fake_openai: FakeOpenAI,
    oracle: Callable[..., Oracle],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.EVALUATION_TEST_FRACTION = 1.0
    oracle(sentiment_task)
    added = post(
        api_client,
        {"name": "fake", "base_url": fake_openai.base_url, "model": "small", "api_key": API_KEY, "price_per_hour": 1},
        path="/api/v1/endpoints",
    )
    assert added.status_code == 201
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            api_client,
            {"cluster": str(sentiment_task.id), "candidate": {"endpoint": added.json()["id"]}, "target": 0.9},
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["kind"], body["target"], body["verdict"], body["test_hash"]) == (
        "queued", "label", 0.9, "", ""
    )  # fmt: skip
    assert body["candidate"] == {
        "kind": "endpoint", "endpoint": added.json()["id"], "training_run": None, "base_model": None, "shots": None,
        "name": "fake", "model": "small",
    }  # fmt: skip
    assert body["agreement"] == {"value": None, "ci_low": None, "ci_high": None, "agreed": 0}
    assert len(callbacks) == 1

    evaluation_run_task(body["id"])  # what the cpu worker runs for the queued message

    done = api_client.get(f"{URL}/{body['id']}")
    assert done.status_code == 200
    result = done.json()
    assert (result["status"], result["progress"], result["test_calls"], result["calls_done"]) == (
        "succeeded", 1.0, TASK_CALLS, TASK_CALLS
    )  # fmt: skip
    assert len(result["test_hash"]) == 64
    assert result["agreement"]["value"] == 1.0 and result["agreement"]["agreed"] == TASK_CALLS
    assert result["agreement"]["ci_low"] > 0.9 and result["agreement"]["ci_high"] == 1.0
    assert result["verdict"] == "ready" and result["calls_to_settle"] is None
    assert result["metrics"]["accuracy"] == 1.0 and result["metrics"]["calls"] == TASK_CALLS
    assert 0 < result["latency"]["p50_ms"] <= result["latency"]["p95_ms"]
    assert float(result["cost"]["candidate_per_1k_calls"]) > 0 and float(result["cost"]["llm_per_1k_calls"]) > 0
    assert "per hour" in result["cost"]["basis"] and result["output_tokens"] == 4 * TASK_CALLS
    assert {r.headers["authorization"] for r in fake_openai.chat_requests()} == {f"Bearer {API_KEY}"}
    for path in (f"{URL}/{body['id']}", f"{URL}/{body['id']}/results?limit=200", URL, "/api/v1/endpoints"):
        assert API_KEY not in api_client.get(path).content.decode()


def test_an_endpoint_with_a_bad_key_ends_failed_with_the_reason(
    api_client: Client, sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI
) -> None:
    fake_openai.respond = lambda body: error(401, "invalid api key")
    evaluation_id = start(api_client, sentiment_task, endpoint).json()["id"]
    evaluation_run_task(evaluation_id)
    body = api_client.get(f"{URL}/{evaluation_id}").json()
    assert body["status"] == "failed" and "refused the API key (HTTP 401: invalid api key)" in body["error"]


def test_unknown_task_or_endpoint_is_404_naming_the_field(
    api_client: Client, sentiment_task: TaskCluster, endpoint: ModelEndpoint, other_project: Project
) -> None:
    response = post(api_client, {"cluster": str(uuid.uuid4()), "candidate": {"endpoint": str(endpoint.id)}})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "cluster"
    response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": {"endpoint": str(uuid.uuid4())}})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "candidate.endpoint"
    theirs = services.endpoint_create(project=other_project, name="x", base_url="http://h/v1", model="m")
    response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": {"endpoint": str(theirs.id)}})
    assert response.status_code == 404
    assert not Evaluation.objects.exists()


def test_a_candidate_of_two_kinds_or_none_is_422(
    api_client: Client, sentiment_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    two = {"endpoint": str(endpoint.id), "base_model": "Qwen/Qwen2.5-0.5B-Instruct", "shots": 2}
    response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": two})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "candidate"
    assert "give exactly one of endpoint, training_run or base_model" in response.json()["message"]
    assert post(api_client, {"cluster": str(sentiment_task.id), "candidate": {}}).status_code == 422
    response = post(
        api_client, {"cluster": str(sentiment_task.id), "candidate": {"endpoint": str(endpoint.id), "x": 1}}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "candidate.x"
    response = start(api_client, sentiment_task, endpoint, target=1.5)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "target"
    assert not Evaluation.objects.exists()


def test_a_training_run_or_base_model_candidate_is_checked_and_another_projects_run_is_404(
    api_client: Client, sentiment_task: TaskCluster, other_project: Project
) -> None:
    dataset = TrainingDataset.objects.create(project=sentiment_task.project, cluster=sentiment_task, status="succeeded")
    run = TrainingRun.objects.create(project=sentiment_task.project, cluster=sentiment_task, dataset=dataset)
    response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": {"training_run": str(run.id)}})
    assert response.status_code == 409, response.json()
    assert (
        response.json()["code"] == "not_finished" and response.json()["errors"][0]["field"] == "candidate.training_run"
    )
    qwen = {"base_model": "Qwen/Qwen2.5-0.5B-Instruct", "shots": 3}
    response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": qwen})
    assert response.status_code == 409 and response.json()["code"] == "cannot_run"  # no worker has its weights
    assert "No GPU worker has registered" in response.json()["message"]
    response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": {**qwen, "shots": 17}})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "candidate.shots"
    theirs = TrainingDataset.objects.create(project=other_project, cluster=make_task(other_project), status="succeeded")
    their_run = TrainingRun.objects.create(
        project=other_project, cluster=theirs.cluster, dataset=theirs, status="succeeded", artifact_path="/x"
    )
    for run_id in (their_run.id, uuid.uuid4()):
        response = post(api_client, {"cluster": str(sentiment_task.id), "candidate": {"training_run": str(run_id)}})
        assert response.status_code == 404 and response.json()["errors"][0]["field"] == "candidate.training_run"
    assert not Evaluation.objects.exists()


def test_a_task_that_cannot_be_scored_is_400(
    api_client: Client, project: Project, sample_records: list[dict[str, Any]], endpoint: ModelEndpoint
) -> None:
    task = sample_task(project, sample_records, "summarization_tldr", output_kind="none")
    response = start(api_client, task, endpoint)
    assert response.status_code == 400 and response.json()["code"] == "not_scorable"


def test_a_read_only_key_reads_but_cannot_start_or_cancel(
    client: Client, project: Project, sentiment_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    _, viewer = api_key_create(project=project, name="viewer", scopes=["read"])
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {viewer}"}
    body = {"cluster": str(sentiment_task.id), "candidate": {"endpoint": str(endpoint.id)}}
    response = post(client, body, **auth)
    assert response.status_code == 403 and "'discover'" in response.json()["message"]
    evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    assert client.get(f"{URL}/{evaluation.id}", **auth).status_code == 200
    assert client.get(f"{URL}/{evaluation.id}/results", **auth).status_code == 200
    assert client.get(URL, **auth).status_code == 200
    assert post(client, {}, path=f"{URL}/{evaluation.id}/cancel", **auth).status_code == 403
    assert post(client, body).status_code == 401 and client.get(f"{URL}/{evaluation.id}").status_code == 401
    _, ingest_only = api_key_create(project=project, name="agent", scopes=["ingest"])
    assert client.get(f"{URL}/{evaluation.id}", HTTP_AUTHORIZATION=f"Bearer {ingest_only}").status_code == 403


def test_another_projects_evaluation_or_a_bad_id_is_404(
    api_client: Client,
    other_project: Project,
    sample_records: list[dict[str, Any]],
    fake_openai: FakeOpenAI,
) -> None:
    task = sample_task(other_project, sample_records, "sentiment_classification")
    theirs = services.endpoint_create(project=other_project, name="x", base_url=fake_openai.base_url, model="m")
    evaluation = services.evaluation_create(cluster=task, endpoint=theirs)
    for path in (f"{URL}/{evaluation.id}", f"{URL}/{evaluation.id}/results", f"{URL}/nope", f"{URL}/{uuid.uuid4()}"):
        assert api_client.get(path).status_code == 404
    assert post(api_client, {}, path=f"{URL}/{evaluation.id}/cancel").status_code == 404
    assert api_client.get(URL).json() == {"items": [], "next_cursor": None}


def test_lists_evaluations_newest_first_in_pages_and_by_task(
    api_client: Client, sentiment_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    made = [services.evaluation_create(cluster=sentiment_task, endpoint=endpoint) for _ in range(3)]
    first = api_client.get(f"{URL}?limit=2").json()
    assert [e["id"] for e in first["items"]] == [str(made[2].id), str(made[1].id)]
    rest = api_client.get(f"{URL}?limit=2&cursor={first['next_cursor']}").json()
    assert [e["id"] for e in rest["items"]] == [str(made[0].id)] and rest["next_cursor"] is None
    assert len(api_client.get(f"{URL}?cluster={sentiment_task.id}").json()["items"]) == 3
    assert api_client.get(f"{URL}?cluster={uuid.uuid4()}").status_code == 404
    assert api_client.get(f"{URL}?cursor=bogus").status_code == 400


def test_cancel_a_queued_evaluation(api_client: Client, sentiment_task: TaskCluster, endpoint: ModelEndpoint) -> None:
    evaluation_id = start(api_client, sentiment_task, endpoint).json()["id"]
    response = post(api_client, {}, path=f"{URL}/{evaluation_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_wrong_method_is_405(api_client: Client, sentiment_task: TaskCluster, endpoint: ModelEndpoint) -> None:
    evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    assert api_client.delete(f"{URL}/{evaluation.id}").status_code == 405
    assert api_client.post(f"{URL}/{evaluation.id}/results").status_code == 405
