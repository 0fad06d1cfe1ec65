"""Honest states: a training run is refused when no registered worker could ever run it (saying why and
what to do), and a queued run says what it waits for."""

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from apps.common.errors import DomainError
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.specialists import selectors, services
from apps.specialists.models import CatalogModel, SpecialistKind, TrainingDataset, TrainingRun
from apps.specialists.params import memory_estimate_mb, training_params
from apps.specialists.selectors import catalog_weights_here
from tests.specialists.conftest import LORA_FAST
from tests.specialists.workers_helpers import gpu, register


@pytest.fixture
def lora(make_dataset: Callable[..., TrainingDataset], tiny_model: CatalogModel, lora_rows: Any) -> TrainingDataset:
    """A built LoRA dataset, with no worker registered."""
    return make_dataset(lora_rows, base_model=tiny_model)


@pytest.fixture
def classifier(make_dataset: Callable[..., TrainingDataset], sentiment_rows: Any) -> TrainingDataset:
    return make_dataset(sentiment_rows, kind=SpecialistKind.CLASSIFIER)


def _params(dataset: TrainingDataset, params: dict[str, Any]) -> dict[str, Any]:
    return {**LORA_FAST, **params} if dataset.kind == SpecialistKind.LORA else params


def refused(dataset: TrainingDataset, **params: Any) -> str:
    with pytest.raises(DomainError) as caught:
        services.training_run_create(dataset=dataset, params=_params(dataset, params), created_by=None)
    assert (caught.value.status, caught.value.code) == (409, "cannot_run")
    assert not TrainingRun.objects.exists()
    return caught.value.message


def started(dataset: TrainingDataset, **params: Any) -> TrainingRun:
    return services.training_run_create(dataset=dataset, params=_params(dataset, params), created_by=None)


def note(run: TrainingRun) -> str:
    return selectors.training_run_get(project=run.project, run_id=run.id).message


# --- runs no worker could ever take ------------------------------------------------------------------


def test_without_any_gpu_worker_a_lora_run_is_refused_saying_how_to_start_one(lora: TrainingDataset) -> None:
    register("celery@cpu-1", queues=("cpu",), encoder=True, has=(lora.base_model,))  # type: ignore[arg-type]
    assert refused(lora) == (
        "No GPU worker has registered; start one with `celery -A controlplane worker -Q gpu` (see README)."
    )


def test_without_any_cpu_worker_a_classifier_run_is_refused(classifier: TrainingDataset) -> None:
    register("celery@gpu-1", queues=("gpu",), encoder=True)
    assert refused(classifier) == (
        "No CPU worker has registered; start one with `celery -A controlplane worker -Q cpu` (see README)."
    )


def test_weights_on_no_gpu_worker_are_refused_saying_where_the_worker_looked(
    make_dataset: Callable[..., TrainingDataset], lora_rows: Any
) -> None:
    model = CatalogModel.objects.create(
        hf_id="acme/not-downloaded", name="Not downloaded", params_b=0.5, licence="mit", context_window=4096
    )
    dataset = make_dataset(lora_rows, base_model=model)
    register("celery@gpu-1", gpus=[gpu(80_000)])
    # What this machine, as that worker, reports: the model is not in its Hugging Face cache.
    GpuWorker.objects.filter(name="celery@gpu-1").update(weights=catalog_weights_here())
    message = refused(dataset)
    assert message.startswith("Weights for Not downloaded (0.5B) are not on any GPU worker. celery@gpu-1: ")
    assert "Not in the Hugging Face cache" in message and "huggingface-cli download acme/not-downloaded" in message


def test_a_model_added_since_the_workers_last_heartbeat_is_not_refused(lora: TrainingDataset) -> None:
    register("celery@gpu-1", gpus=[gpu(80_000)])
    GpuWorker.objects.filter(name="celery@gpu-1").update(weights={})  # it has not looked for any model yet
    assert started(lora).status == JobStatus.QUEUED


def test_the_classifier_encoder_on_no_cpu_worker_is_refused(classifier: TrainingDataset) -> None:
    register("celery@cpu-1", queues=("cpu",), encoder=False)
    message = refused(classifier)
    assert message.startswith("The weights of the classifier's encoder (all-MiniLM-L6-v2) are not on any CPU worker.")
    assert "celery@cpu-1" in message


def test_qlora_needs_a_worker_with_a_gpu_while_lora_trains_on_a_cpu_worker(lora: TrainingDataset) -> None:
    register("celery@laptop", gpus=[], has=(lora.base_model,))  # type: ignore[arg-type]
    assert refused(lora, method="qlora").startswith("QLoRA needs a CUDA GPU, and no GPU worker with these weights")
    assert started(lora, method="lora").status == JobStatus.QUEUED


def test_qlora_needs_the_gpu_on_a_worker_that_has_the_weights(lora: TrainingDataset) -> None:
    register("celery@laptop", gpus=[], has=(lora.base_model,))  # type: ignore[arg-type]
    register("celery@gpu-1", gpus=[gpu(80_000)])  # a GPU, but not the weights
    assert refused(lora, method="qlora").startswith("QLoRA needs a CUDA GPU")


def test_a_model_too_big_for_every_gpu_is_refused_unless_a_worker_can_train_it_on_its_cpu(
    lora: TrainingDataset,
) -> None:
    register("celery@small", gpus=[gpu(900, total_mb=1000)], has=(lora.base_model,))  # type: ignore[arg-type]
    message = refused(lora)
    need = memory_estimate_mb(params_b=0.0001, params=training_params(kind="lora", overrides=LORA_FAST))
    assert message == (
        f"Tiny Llama (0.0001B) needs about {need:,} MB of GPU memory to train this way, more than the largest GPU of "
        "the workers with its weights (1,000 MB): use QLoRA, lower the batch size or the sequence length, or choose "
        "a smaller model."
    )
    assert "use QLoRA" not in refused(lora, method="qlora")
    register("celery@laptop", gpus=[], has=(lora.base_model,))  # type: ignore[arg-type]
    assert started(lora).status == JobStatus.QUEUED


def test_a_gpu_big_enough_but_busy_now_is_not_a_refusal(lora: TrainingDataset) -> None:
    register("celery@busy", gpus=[gpu(10, total_mb=80_000)], has=(lora.base_model,))  # type: ignore[arg-type]
    run = started(lora)
    assert note(run) == f"Waiting for {run.memory_estimate_mb:,} MB of GPU memory: celery@busy has 10 MB free."


def test_a_registered_worker_that_is_offline_counts_and_the_run_waits_for_it(lora: TrainingDataset) -> None:
    register("celery@gpu-1", age_s=3600, has=(lora.base_model,))  # type: ignore[arg-type]
    run = started(lora)
    assert note(run) == (
        "Waiting: no worker on the gpu queue is online (celery@gpu-1 stopped or went silent); start one with "
        "`celery -A controlplane worker -Q gpu` (see README)."
    )


def test_when_tasks_run_in_the_web_process_this_machine_is_the_worker(
    lora: TrainingDataset, make_dataset: Callable[..., TrainingDataset], lora_rows: Any, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    absent = CatalogModel.objects.create(
        hf_id="acme/absent", name="Absent", params_b=0.5, licence="mit", context_window=4096
    )
    message = refused(make_dataset(lora_rows, base_model=absent))
    assert message.startswith("Weights for Absent (0.5B) are not on this machine, where tasks run")
    assert (
        selectors.training_run_blocker(
            kind=SpecialistKind.LORA, base_model=lora.base_model, method="lora", memory_estimate_mb=10**9
        )
        == ""
    )  # its local folder is here; no worker to compare GPUs with


# --- what a queued run waits for ---------------------------------------------------------------------


def test_a_queued_run_says_no_worker_takes_its_queue(lora: TrainingDataset) -> None:
    worker = register("celery@gpu-1", has=(lora.base_model,))  # type: ignore[arg-type]
    run = started(lora)
    worker.delete()  # an admin removed the retired machine's row
    assert note(run) == (
        "Waiting: no worker takes the gpu queue; start one with `celery -A controlplane worker -Q gpu` (see README)."
    )


def test_a_queued_run_says_every_worker_is_draining(lora: TrainingDataset) -> None:
    register("celery@gpu-1", draining=True, has=(lora.base_model,))  # type: ignore[arg-type]
    run = started(lora)
    assert "every worker on the gpu queue is draining (celery@gpu-1)" in note(run)


def test_a_queued_run_says_which_run_it_is_behind(lora: TrainingDataset) -> None:
    register("celery@gpu-1", has=(lora.base_model,))  # type: ignore[arg-type]
    first, second, third = started(lora), started(lora), started(lora)
    TrainingRun.objects.filter(id=first.id).update(status=JobStatus.RUNNING, progress=0.4, gpu_worker="celery@gpu-1")
    cluster = lora.cluster.name
    assert note(second) == f"Next in line behind run {str(first.id)[:8]} ({cluster}), 40% done on celery@gpu-1."
    assert note(third) == f"Next in line behind run {str(second.id)[:8]} ({cluster}), on the gpu queue."
    TrainingRun.objects.filter(id=second.id).update(status=JobStatus.CANCELLED)
    GpuWorker.objects.filter(name="celery@gpu-1").update(concurrency=2)
    assert note(third) == "Waiting for a worker on the gpu queue to pick it up."  # a slot is free


def test_the_queue_note_is_the_runs_message_in_the_api_and_after_creation(
    api_client: Any, lora: TrainingDataset
) -> None:
    register("celery@gpu-1", age_s=300, has=(lora.base_model,))  # type: ignore[arg-type]
    response = api_client.post("/api/v1/training-runs", {"dataset": str(lora.id)}, content_type="application/json")
    assert response.status_code == 202, response.json()
    assert response.json()["message"].startswith("Waiting: no worker on the gpu queue is online")
    GpuWorker.objects.filter(name="celery@gpu-1").update(heartbeat_at=timezone.now())
    body = api_client.get(f"/api/v1/training-runs/{response.json()['id']}").json()
    assert body["message"] == "Waiting for a worker on the gpu queue to pick it up."
