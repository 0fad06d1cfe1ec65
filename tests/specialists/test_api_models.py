from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.fleet.models import GpuWorker
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.specialists.selection_helpers import conversation, make_task, stored

MODELS = "/api/v1/models"


def candidates_url(cluster: Any) -> str:
    return f"/api/v1/clusters/{cluster.id}/candidates"


def test_lists_the_catalog_with_memory_estimates(api_client: Client) -> None:
    response = api_client.get(MODELS)
    assert response.status_code == 200
    items = {m["hf_id"]: m for m in response.json()["items"]}
    qwen = items["Qwen/Qwen2.5-0.5B-Instruct"]
    assert (qwen["params_b"], qwen["licence"], qwen["context_window"], qwen["tool_calling"]) == (
        0.49,
        "apache-2.0",
        32768,
        True,
    )
    assert qwen["seeded"] is True and qwen["source_url"].startswith("https://huggingface.co/")
    memory = qwen["memory"]
    assert 0 < memory["serve_4bit_mb"] < memory["serve_bf16_mb"] < memory["train_lora_mb"]
    assert memory["train_qlora_mb"] < memory["train_lora_mb"] and memory["seq_len"] == 2048
    assert qwen["weights_present"] in (True, False) and qwen["weights_note"]
    assert "Full multi-head attention" in items["microsoft/Phi-3-mini-4k-instruct"]["note"]


def test_the_catalog_needs_a_key_with_the_read_scope(client: Client, project: Project) -> None:
    assert client.get(MODELS).status_code == 401
    _, secret = api_key_create(project=project, name="ingest-only", scopes=["ingest"])
    response = client.get(MODELS, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_the_catalog_is_read_only(api_client: Client) -> None:
    assert api_client.post(MODELS, {}, content_type="application/json").status_code == 405


@pytest.mark.django_db
def test_ranks_a_tasks_candidates_with_reasons(api_client: Client, project: Project) -> None:
    calls = stored(project, conversation("c", 3, usage={"prompt_tokens": 900, "completion_tokens": 3}))
    task = make_task(project, calls=calls, output_kind="label", labels=["positive", "negative"])

    response = api_client.get(candidates_url(task))

    assert response.status_code == 200
    body = response.json()
    assert body["cluster"] == str(task.id) and body["prompt_tokens_p99"] == 900
    assert body["gpu_memory_mb"] == 24576 and body["gpu_memory_assumed"] is True
    assert any("No GPU worker" in note for note in body["notes"])
    first = body["items"][0]
    assert first["recommended"] and first["kind"] == "classifier" and first["model"] is None
    assert first["key"] == "classifier" and first["eligible"] and first["reasons"]
    lora = [c for c in body["items"] if c["kind"] == "lora"]
    assert lora and all(c["model"]["memory"]["train_lora_mb"] > 0 for c in lora)
    assert lora[0]["key"] == lora[0]["model"]["id"]
    eligible = [c["eligible"] for c in body["items"]]
    assert eligible == sorted(eligible, reverse=True)
    llama = next(c for c in lora if c["model"]["hf_id"] == "meta-llama/Llama-3.2-1B-Instruct")
    assert not llama["eligible"] and "licence (llama3.2)" in llama["failed_constraints"][0]


@pytest.mark.django_db
def test_candidates_fit_the_largest_registered_gpu(api_client: Client, project: Project) -> None:
    now = timezone.now()
    GpuWorker.objects.create(
        name="celery@gpu1",
        host="gpu1",
        gpus=[{"index": 0, "name": "NVIDIA L4", "memory_total_mb": 8000}],
        started_at=now,
        heartbeat_at=now,
    )
    task = make_task(project, output_kind="json", labels=[])
    body = api_client.get(candidates_url(task)).json()
    assert body["gpu_memory_mb"] == 8000 and body["gpu_memory_assumed"] is False
    big = next(c for c in body["items"] if c["model"]["hf_id"] == "Qwen/Qwen2.5-7B-Instruct")
    assert not big["eligible"] and big["failed_constraints"][0].startswith("Too big for the largest GPU (7.8 GB)")


@pytest.mark.django_db
def test_another_projects_task_is_404(api_client: Client, other_project: Project) -> None:
    task = make_task(other_project)
    response = api_client.get(candidates_url(task))
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("cluster_id", ["T1", "3f0e0c9e-6a43-4f7c-9d84-2f7bb1d2c001"])
def test_an_unknown_task_is_404(api_client: Client, cluster_id: str) -> None:
    assert api_client.get(f"/api/v1/clusters/{cluster_id}/candidates").status_code == 404


@pytest.mark.django_db
def test_candidates_need_the_read_scope(client: Client, project: Project) -> None:
    task = make_task(project)
    assert client.get(candidates_url(task)).status_code == 401
    _, secret = api_key_create(project=project, name="writer", scopes=["ingest", "discover"])
    assert client.get(candidates_url(task), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403
