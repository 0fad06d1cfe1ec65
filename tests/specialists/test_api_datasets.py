from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.calls.models import Call
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.specialists.datasets import dataset_build_run
from apps.specialists.models import CatalogModel, TrainingDataset
from tests.specialists.selection_helpers import conversation, make_task, stored

URL = "/api/v1/datasets"
pytestmark = pytest.mark.django_db


@pytest.fixture
def task(project: Project) -> Any:
    records = []
    for t in range(30):
        records += conversation(f"t{t}", 2, trace_id=f"trace-{t}")
    return make_task(project, calls=stored(project, records))


def post(client: Client, body: dict[str, Any], **extra: Any) -> Any:
    return client.post(URL, body, content_type="application/json", **extra)


def built(client: Client, body: dict[str, Any], **extra: Any) -> Any:
    """POST, run the build job as the cpu worker would, then GET the dataset."""
    response = post(client, body, **extra)
    assert response.status_code == 202, response.json()
    dataset_build_run(dataset_id=response.json()["id"])
    return client.get(f"{URL}/{response.json()['id']}", **extra)


def test_answers_202_with_the_queued_build_then_shows_its_progress_and_result(api_client: Client, task: Any) -> None:
    response = post(api_client, {"cluster": str(task.id), "base_model": "Qwen/Qwen2.5-0.5B-Instruct", "seed": 3})
    assert response.status_code == 202
    queued = response.json()
    assert (queued["status"], queued["progress"], queued["stage"], queued["path"]) == ("queued", 0.0, "queued", "")
    assert queued["counts"] == {"train": 0, "val": 0, "test": 0} and queued["finished_at"] is None
    TrainingDataset.objects.filter(id=queued["id"]).update(
        status="running", stage="reading", progress=0.4, calls_done=24, calls_total=60
    )
    running = api_client.get(f"{URL}/{queued['id']}").json()
    assert (running["status"], running["progress"], running["calls_done"], running["calls_total"]) == (
        "running", 0.4, 24, 60
    )  # fmt: skip
    TrainingDataset.objects.filter(id=queued["id"]).update(status="queued", stage="queued", progress=0.0)
    dataset_build_run(dataset_id=queued["id"])

    body = api_client.get(f"{URL}/{queued['id']}").json()
    assert (body["status"], body["progress"], body["calls_done"], body["error"]) == ("succeeded", 1.0, 60, "")
    dataset = TrainingDataset.objects.get(id=body["id"])
    assert body["cluster"] == str(task.id) and body["kind"] == "lora"
    assert body["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct" and body["seed"] == 3
    counts = body["counts"]
    assert counts == {"train": dataset.train_count, "val": dataset.val_count, "test": dataset.test_count}
    assert sum(counts.values()) == 60
    assert body["test_hash"] == dataset.test_hash and len(body["test_hash"]) == 64
    assert any("at least 1,000 are recommended" in w for w in body["warnings"])
    assert (Path(body["path"]) / "train.jsonl").is_file()
    assert dataset.created_by is None


def test_builds_by_catalog_id_and_a_classifier_without_a_model(api_client: Client, task: Any) -> None:
    model = CatalogModel.objects.get(hf_id="HuggingFaceTB/SmolLM2-360M-Instruct")
    by_id = built(api_client, {"cluster": str(task.id), "base_model": str(model.id), "val_fraction": 0.2})
    assert by_id.status_code == 200 and by_id.json()["base_model"] == model.hf_id
    assert by_id.json()["val_fraction"] == 0.2
    classifier = built(api_client, {"cluster": str(task.id), "base_model": None, "kind": "classifier"})
    assert classifier.status_code == 200
    assert classifier.json()["kind"] == "classifier" and classifier.json()["base_model"] is None
    assert classifier.json()["test_hash"] == by_id.json()["test_hash"]  # the frozen test split


def test_gets_a_dataset(api_client: Client, task: Any) -> None:
    created = post(api_client, {"cluster": str(task.id), "base_model": "Qwen/Qwen3-0.6B"}).json()
    response = api_client.get(f"{URL}/{created['id']}")
    assert response.status_code == 200 and response.json() == created  # nothing ran yet


def test_building_needs_the_discover_scope(client: Client, project: Project, task: Any) -> None:
    body = {"cluster": str(task.id), "base_model": "Qwen/Qwen3-0.6B"}
    assert post(client, body).status_code == 401
    _, secret = api_key_create(project=project, name="reader", scopes=["ingest", "read"])
    response = post(client, body, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and "'discover' scope" in response.json()["message"]
    assert not TrainingDataset.objects.exists()


def test_reading_needs_the_read_scope(client: Client, api_client: Client, project: Project, task: Any) -> None:
    created = post(api_client, {"cluster": str(task.id), "base_model": "Qwen/Qwen3-0.6B"}).json()
    _, secret = api_key_create(project=project, name="writer", scopes=["discover"])
    client.defaults.pop("HTTP_AUTHORIZATION")
    assert client.get(f"{URL}/{created['id']}").status_code == 401
    assert client.get(f"{URL}/{created['id']}", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403


def test_another_projects_task_or_dataset_is_404(
    api_client: Client, client: Client, other_project: Project, task: Any
) -> None:
    foreign = make_task(other_project)
    response = post(api_client, {"cluster": str(foreign.id), "base_model": "Qwen/Qwen3-0.6B"})
    assert response.status_code == 404
    assert response.json()["errors"] == [{"field": "cluster", "message": "No such task in this project"}]
    _, secret = api_key_create(project=other_project, name="theirs")
    theirs = post(client, {"cluster": str(foreign.id), "base_model": None, "kind": "classifier"},
                  HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip
    assert theirs.status_code == 400  # their task has no calls: nothing to train on
    calls = stored(other_project, conversation("o", 20))
    Call.objects.filter(id__in=[c.id for c in calls]).update(task_cluster=foreign)
    theirs = post(client, {"cluster": str(foreign.id), "base_model": None, "kind": "classifier"},
                  HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip
    assert theirs.status_code == 202
    assert api_client.get(f"{URL}/{theirs.json()['id']}").status_code == 404
    assert api_client.get(f"{URL}/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"base_model": "nobody/nothing"}, "base_model"),
        ({"base_model": None}, "base_model"),
        ({"base_model": "Qwen/Qwen3-0.6B", "kind": "adapter"}, "kind"),
        ({"base_model": "Qwen/Qwen3-0.6B", "val_fraction": 1.5}, "val_fraction"),
        ({"base_model": "Qwen/Qwen3-0.6B", "val_fraction": 0.3, "test_fraction": 0.3}, "test_fraction"),
        ({"base_model": "Qwen/Qwen3-0.6B", "shuffle": True}, "shuffle"),
        ({"base_model": "Qwen/Qwen3-0.6B", "cluster": "T1"}, "cluster"),
    ],
)
def test_bad_input_is_422_naming_the_field(api_client: Client, task: Any, body: dict[str, Any], field: str) -> None:
    response = post(api_client, {"cluster": str(task.id), **body})
    assert response.status_code == 422, response.json()
    assert field in [e["field"] for e in response.json()["errors"]]


def test_a_task_with_nothing_to_train_on_is_400(api_client: Client, project: Project) -> None:
    empty = make_task(project)
    response = post(api_client, {"cluster": str(empty.id), "base_model": "Qwen/Qwen3-0.6B"})
    assert response.status_code == 400 and response.json()["code"] == "no_data"
    assert "nothing to train on" in response.json()["message"]


def test_wrong_method_is_405(api_client: Client) -> None:
    assert api_client.get(URL).status_code == 405
    assert api_client.delete(f"{URL}/3f0e0c9e-6a43-4f7c-9d84-2f7bb1d2c001").status_code == 405
