"""From a discovered task to an adapter, in real Chromium with a real Celery worker: pick a model,
build the dataset (a job: its page follows the build until it is done), start training, watch the loss
curve, find the adapter; then an admin drains and resumes the worker from the browser."""

import re
from pathlib import Path
from typing import Any

import pytest

from apps.calls.ingest import Batch
from apps.calls.services import calls_ingest
from apps.discovery import pipeline
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.fleet.models import GpuWorker
from apps.projects.models import Role
from apps.projects.services import membership_set, project_create
from apps.specialists.models import CatalogModel, TrainingRun
from tests.tiny_llama import chat_rows, save_llama

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pick_a_model_build_the_dataset_train_and_drain_the_worker(
    live_server: Any,
    cpu_and_gpu_worker: Any,
    page: Any,
    make_user: Any,
    sample_records: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    project = project_create(slug="acme", name="Acme agents")
    membership_set(project=project, user=make_user("ada", is_staff=True), role=Role.ADMIN)  # staff: the workers page
    tools = [r for r in sample_records if r["task"] == "function_calling"][:90]
    labels = [r for r in sample_records if r["task"] == "sentiment_classification"][:40]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(tools + labels))))
    run = DiscoveryRun.objects.create(project=project, min_cluster_size=10)
    pipeline.discovery_run_execute(run_id=run.id)
    task = TaskCluster.objects.get(project=project, status="active", output_kind="tool_calls")
    tiny = save_llama(tmp_path / "tiny-llama", chat_rows(tools))
    CatalogModel.objects.create(
        hf_id="local/tiny-llama",
        name="Tiny Llama",
        params_b=0.0001,
        licence="apache-2.0",
        context_window=32768,
        architecture="LlamaForCausalLM",
        tool_calling=True,
        local_path=str(tiny),
    )

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/p/acme/tasks/{task.id}/")
    page.click("text=Choose a small model")
    page.wait_for_url(f"**/specialists/tasks/{task.id}/")
    assert "Tiny Llama" in page.inner_text("main")
    option = page.locator("select[name=candidate] option", has_text="Tiny Llama").first.get_attribute("value")
    page.select_option("select[name=candidate]", option)
    page.click("#dataset-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/specialists/datasets/[0-9a-f-]+/$"))
    page.wait_for_selector("a:has-text('Start training')", timeout=120_000)  # polled in once the build is done
    assert "Frozen test split" in page.inner_text("main")
    page.click("text=Start training")
    page.wait_for_url("**/train/")
    page.fill("input[name=max_steps]", "8")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/specialists/runs/[0-9a-f-]+/$"))
    page.wait_for_selector(".badge-succeeded", timeout=240_000)

    training = TrainingRun.objects.get(cluster=task)
    assert training.step == 8 and len(training.history) >= 2
    assert page.locator("main svg polyline, main svg path").count() >= 1  # the loss curve
    assert training.artifact_path in page.inner_text("main")
    assert (Path(training.artifact_path) / "adapter_config.json").exists()

    worker = GpuWorker.objects.get(queues__contains=["gpu"])
    page.goto(f"{live_server.url}/workers/")
    page.on("dialog", lambda dialog: dialog.accept())  # the drain button asks to confirm
    page.click("button:has-text('Drain')")
    page.wait_for_selector("button:has-text('Resume')")
    worker.refresh_from_db()
    assert worker.draining
    page.click("button:has-text('Resume')")
    page.wait_for_selector("button:has-text('Drain')")
    worker.refresh_from_db()
    assert not worker.draining
