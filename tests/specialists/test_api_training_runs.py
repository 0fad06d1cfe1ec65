import json
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

from django.test import Client

from apps.fleet.models import GpuWorker
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.specialists import services
from apps.specialists.models import TrainingDataset, TrainingRun
from tests.specialists.workers_helpers import gpu, register

URL = "/api/v1/training-runs"


def post(client: Client, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def test_starts_a_run_and_queues_it_after_commit(
    api_client: Client, lora_dataset: TrainingDataset, django_capture_on_commit_callbacks: Any
) -> None:
    register("celery@gpu-1", gpus=[gpu(80_000)], has=(lora_dataset.base_model,))  # type: ignore[arg-type]
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api_client, {"dataset": str(lora_dataset.id), "params": {"epochs": 2, "method": "qlora"}})
    assert response.status_code == 202, response.json()
    body = response.json()
    run = TrainingRun.objects.get(id=body["id"])
    assert (body["status"], body["kind"], body["queue"], body["method"]) == ("queued", "lora", "gpu", "qlora")
    assert body["dataset"] == str(lora_dataset.id) and body["cluster"] == str(lora_dataset.cluster_id)
    assert body["params"]["epochs"] == 2 and body["params"]["lora_r"] == 16
    assert body["base_model"] == lora_dataset.base_model.hf_id  # type: ignore[union-attr]
    assert body["memory_estimate_mb"] == run.memory_estimate_mb > 0
    assert (body["step"], body["history"], body["artifact_path"], body["gpu_memory_mb"]) == (0, [], "", None)
    assert body["message"] == "Waiting for a worker on the gpu queue to pick it up."
    with mock.patch("apps.specialists.tasks.training_run_execute_task.apply_async") as apply_async:
        callbacks[0]()
    assert apply_async.call_args.kwargs["queue"] == "gpu"


def test_a_run_no_worker_could_take_is_409_saying_why_and_what_to_do(
    api_client: Client, lora_dataset: TrainingDataset
) -> None:
    GpuWorker.objects.all().delete()
    response = post(api_client, {"dataset": str(lora_dataset.id)})
    assert response.status_code == 409
    assert response.json()["code"] == "cannot_run"
    assert response.json()["message"] == (
        "No GPU worker has registered; start one with `celery -A controlplane worker -Q gpu` (see README)."
    )
    register("celery@laptop", gpus=[], has=(lora_dataset.base_model,))  # type: ignore[arg-type]
    response = post(api_client, {"dataset": str(lora_dataset.id), "params": {"method": "qlora"}})
    assert response.status_code == 409 and response.json()["message"].startswith("QLoRA needs a CUDA GPU")
    assert not TrainingRun.objects.exists()


def test_a_dataset_still_building_is_409(api_client: Client, lora_dataset: TrainingDataset) -> None:
    TrainingDataset.objects.filter(id=lora_dataset.id).update(status="running")
    response = post(api_client, {"dataset": str(lora_dataset.id)})
    assert response.status_code == 409 and "not built yet" in response.json()["message"]


def test_an_unknown_parameter_is_422_naming_it(api_client: Client, lora_dataset: TrainingDataset) -> None:
    response = post(api_client, {"dataset": str(lora_dataset.id), "params": {"lr": 0.1}})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and "'lr'" in body["message"]
    assert body["errors"] == [{"field": "params.lr", "message": body["message"]}]
    assert not TrainingRun.objects.exists()


def test_bad_input_is_a_clear_422(api_client: Client, lora_dataset: TrainingDataset) -> None:
    assert post(api_client, {"params": {}}).status_code == 422  # no dataset
    response = post(api_client, {"dataset": "not-a-uuid"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "dataset"
    response = post(api_client, {"dataset": str(lora_dataset.id), "colour": "red"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "colour"
    response = post(api_client, {"dataset": str(lora_dataset.id), "params": {"batch_size": 0}})
    assert response.status_code == 422 and "batch_size" in response.json()["message"]


def test_another_projects_dataset_is_404(
    api_client: Client, make_dataset: Callable[..., TrainingDataset], other_project: Project, lora_rows: Any
) -> None:
    theirs = make_dataset(lora_rows, target=other_project)
    assert post(api_client, {"dataset": str(theirs.id)}).status_code == 404
    assert post(api_client, {"dataset": str(uuid.uuid4())}).status_code == 404


def test_gets_a_run_with_its_progress(api_client: Client, lora_dataset: TrainingDataset) -> None:
    run = services.training_run_create(dataset=lora_dataset, params={}, created_by=None)
    history = [{"step": 1, "train_loss": 2.0, "val_loss": None, "lr": 0.1, "tokens_per_s": 900.0, "epoch": 0}]
    TrainingRun.objects.filter(id=run.id).update(
        status="running", stage="training", progress=0.5, step=1, total_steps=2, history=history,
        tokens_per_s=900.0, eta_s=3.0, gpu_memory_mb=1234.5,
    )  # fmt: skip
    response = api_client.get(f"{URL}/{run.id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["stage"], body["progress"], body["step"], body["total_steps"]) == (
        "running", "training", 0.5, 1, 2
    )  # fmt: skip
    assert body["history"] == history
    assert (body["tokens_per_s"], body["eta_s"], body["gpu_memory_mb"], body["error"]) == (900.0, 3.0, 1234.5, "")


def test_another_projects_run_or_a_bad_id_is_404(
    api_client: Client, make_dataset: Callable[..., TrainingDataset], other_project: Project, lora_rows: Any
) -> None:
    theirs = make_dataset(lora_rows, target=other_project)
    run = TrainingRun.objects.create(project=other_project, cluster=theirs.cluster, dataset=theirs)
    assert api_client.get(f"{URL}/{run.id}").status_code == 404
    assert api_client.get(f"{URL}/nope").status_code == 404


def test_no_key_is_401_and_missing_scopes_are_403(
    client: Client, project: Project, lora_dataset: TrainingDataset
) -> None:
    assert post(client, {"dataset": str(lora_dataset.id)}).status_code == 401
    _, read_only = api_key_create(project=project, name="reader", scopes=["read"])
    response = post(client, {"dataset": str(lora_dataset.id)}, HTTP_AUTHORIZATION=f"Bearer {read_only}")
    assert response.status_code == 403 and "'discover'" in response.json()["message"]
    run = services.training_run_create(dataset=lora_dataset, params={}, created_by=None)
    _, ingest_only = api_key_create(project=project, name="ingest", scopes=["ingest"])
    response = client.get(f"{URL}/{run.id}", HTTP_AUTHORIZATION=f"Bearer {ingest_only}")
    assert response.status_code == 403 and "'read'" in response.json()["message"]


def test_wrong_method_is_405(api_client: Client, lora_dataset: TrainingDataset) -> None:
    assert api_client.get(URL).status_code == 405
    run = services.training_run_create(dataset=lora_dataset, params={}, created_by=None)
    assert api_client.delete(f"{URL}/{run.id}").status_code == 405
