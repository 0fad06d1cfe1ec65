"""GET and PUT /api/v1/clusters/{id}/scoring: how a task's candidates are scored."""

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import ModelEndpoint, TaskScoring
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.evaluation.conftest import sample_task
from tests.specialists.selection_helpers import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def text_task(project: Project, sample_records: list[dict[str, Any]]) -> TaskCluster:
    return sample_task(project, sample_records, "summarization_tldr", output_kind="text", labels=[])


def url(cluster: Any) -> str:
    return f"/api/v1/clusters/{getattr(cluster, 'id', cluster)}/scoring"


def put(client: Client, cluster: Any, body: dict[str, Any], **headers: Any) -> Any:
    return client.put(url(cluster), json.dumps(body), content_type="application/json", **headers)


def test_a_task_that_sets_nothing_shows_the_defaults(api_client: Client, text_task: TaskCluster) -> None:
    response = api_client.get(url(text_task))
    assert response.status_code == 200
    assert response.json() == {
        "cluster": str(text_task.id), "target": 0.95, "target_is_default": True, "text_metric": "cosine",
        "text_threshold": 0.85, "text_threshold_is_default": True, "judge_endpoint": None,
        "applies_to_answers": True, "updated_at": None,
    }  # fmt: skip


def test_put_sets_every_setting_and_get_reads_it_back(
    api_client: Client, text_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    body = {"target": 0.9, "text_metric": "judge", "judge_endpoint": str(endpoint.id)}
    response = put(api_client, text_task, body)
    assert response.status_code == 200, response.json()
    got = api_client.get(url(text_task)).json()
    assert got == response.json()
    assert (got["target"], got["target_is_default"], got["text_metric"], got["judge_endpoint"]) == (
        0.9, False, "judge", str(endpoint.id)
    )  # fmt: skip
    assert (got["text_threshold"], got["text_threshold_is_default"]) == (0.8, True) and got["updated_at"]

    response = put(api_client, text_task, {"text_metric": "rouge_l", "text_threshold": 0.4})
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("target", "text_metric", "text_threshold", "judge_endpoint")} == {
        "target": 0.95, "text_metric": "rouge_l", "text_threshold": 0.4, "judge_endpoint": None
    }  # fmt: skip


def test_evaluations_started_after_it_use_it_and_show_it(
    api_client: Client, text_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    put(api_client, text_task, {"target": 0.8, "text_metric": "judge", "judge_endpoint": str(endpoint.id)})
    body = {"cluster": str(text_task.id), "candidate": {"endpoint": str(endpoint.id)}}
    created = api_client.post("/api/v1/evaluations", json.dumps(body), content_type="application/json").json()
    shown = api_client.get(f"/api/v1/evaluations/{created['id']}").json()
    assert (shown["target"], shown["text_metric"], shown["text_threshold"], shown["judge_endpoint"]) == (
        0.8, "judge", 0.8, str(endpoint.id)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": 1}, "target"),
        ({"text_metric": "bleu"}, "text_metric"),
        ({"text_threshold": 0}, "text_threshold"),
        ({"text_threshold": 1.5}, "text_threshold"),
        ({"text_metric": "judge"}, "judge_endpoint"),
        ({"judge_endpoint": "not-a-uuid"}, "judge_endpoint"),
        ({"threshold": 0.5}, "threshold"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api_client: Client, text_task: TaskCluster, body: dict[str, Any], field: str
) -> None:
    response = put(api_client, text_task, body)
    assert response.status_code == 422, response.json()
    assert response.json()["errors"][0]["field"] == field
    assert not TaskScoring.objects.exists()


def test_a_judge_endpoint_without_the_judge_metric_is_422(
    api_client: Client, text_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    response = put(api_client, text_task, {"text_metric": "cosine", "judge_endpoint": str(endpoint.id)})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "judge_endpoint"


def test_another_projects_task_or_judge_endpoint_is_404(
    api_client: Client, text_task: TaskCluster, other_project: Project
) -> None:
    theirs = make_task(other_project, output_kind="text", labels=[])
    their_endpoint = services.endpoint_create(project=other_project, name="j", base_url="http://h/v1", model="m")
    for cluster in (theirs, uuid.uuid4(), "nope"):
        assert api_client.get(url(cluster)).status_code == 404
        assert put(api_client, cluster, {}).status_code == 404
    response = put(api_client, text_task, {"text_metric": "judge", "judge_endpoint": str(their_endpoint.id)})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "judge_endpoint"
    assert not TaskScoring.objects.exists()


def test_a_read_only_key_reads_but_cannot_set_and_no_key_is_401(
    client: Client, project: Project, text_task: TaskCluster
) -> None:
    _, viewer = api_key_create(project=project, name="viewer", scopes=["read"])
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {viewer}"}
    assert client.get(url(text_task), **auth).status_code == 200
    response = put(client, text_task, {"target": 0.9}, **auth)
    assert response.status_code == 403 and "'discover'" in response.json()["message"]
    assert client.get(url(text_task)).status_code == 401 and put(client, text_task, {}).status_code == 401
    assert not TaskScoring.objects.exists()


def test_other_methods_are_405(api_client: Client, text_task: TaskCluster) -> None:
    assert api_client.post(url(text_task), "{}", content_type="application/json").status_code == 405
    assert api_client.delete(url(text_task)).status_code == 405
