"""training_run_create (parameters, queue, memory estimate, enqueueing) and the scheduling on a worker:
execution.training_run_execute defers a run the worker should not start now (services.training_run_defer)."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.common.errors import DomainError
from apps.fleet.models import GpuWorker
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.specialists import artifacts, execution, services
from apps.specialists.catalog import memory_estimate
from apps.specialists.models import TrainingDataset, TrainingRun
from tests.specialists.conftest import LORA_FAST
from tests.specialists.workers_helpers import gpu, register

TASK = "apps.specialists.tasks.training_run_execute_task.apply_async"


def gpu_worker(name: str, free_mb: int, *, draining: bool = False, dataset: TrainingDataset) -> GpuWorker:
    return register(name, gpus=[gpu(free_mb)], draining=draining, has=(dataset.base_model,))  # type: ignore[arg-type]


# --- creating a run ----------------------------------------------------------------------------------


def test_a_lora_run_gets_every_default_and_goes_to_the_gpu_queue_after_commit(
    lora_dataset: TrainingDataset, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        run = services.training_run_create(dataset=lora_dataset, params={"lora_r": 32}, created_by=None)
    assert (run.kind, run.queue, run.method, run.status, run.cluster_id) == (
        "lora", "gpu", "lora", "queued", lora_dataset.cluster_id
    )  # fmt: skip
    assert run.params["lora_r"] == 32 and run.params["learning_rate"] == 2e-4 and run.params["packing"] is True
    assert run.base_model == lora_dataset.base_model
    assert run.memory_estimate_mb == memory_estimate(0.0001, seq_len=1024, batch_size=4).train_lora_mb
    assert len(callbacks) == 1
    with mock.patch(TASK) as apply_async:
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(run.id)], queue="gpu")


def test_a_qlora_run_needs_less_memory_than_lora(lora_dataset: TrainingDataset) -> None:
    gpu_worker("celery@big", free_mb=140_000, dataset=lora_dataset)  # QLoRA needs a GPU worker
    lora_dataset.base_model.params_b = 7.0  # type: ignore[union-attr]
    lora = services.training_run_create(dataset=lora_dataset, params={}, created_by=None)
    qlora = services.training_run_create(dataset=lora_dataset, params={"method": "qlora"}, created_by=None)
    assert 0 < qlora.memory_estimate_mb < lora.memory_estimate_mb


def test_a_classifier_run_goes_to_the_cpu_queue(classifier_dataset: TrainingDataset) -> None:
    run = services.training_run_create(dataset=classifier_dataset, params=None, created_by=None)
    assert (run.queue, run.memory_estimate_mb, run.base_model) == ("cpu", 0, None)
    assert run.params == {"c": 1.0, "max_iter": 1000, "balanced": False}


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"learning_rat": 0.1}, "params.learning_rat", "Unknown training parameter 'learning_rat'"),
        ({"lora_r": "big"}, "params.lora_r", "whole number"),
        ({"lora_r": 1.5}, "params.lora_r", "whole number"),
        ({"packing": "yes"}, "params.packing", "true or false"),
        ({"learning_rate": -1}, "params.learning_rate", "at least"),
        ({"method": "full"}, "params.method", "one of lora, qlora"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    lora_dataset: TrainingDataset, params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(DomainError) as caught:
        services.training_run_create(dataset=lora_dataset, params=params, created_by=None)
    assert (caught.value.status, caught.value.field) == (422, field)
    assert words in caught.value.message
    assert not TrainingRun.objects.exists()


def test_lora_parameters_are_unknown_to_a_classifier(classifier_dataset: TrainingDataset) -> None:
    with pytest.raises(DomainError, match="Unknown training parameter 'lora_r'"):
        services.training_run_create(dataset=classifier_dataset, params={"lora_r": 8}, created_by=None)


def test_a_dataset_without_examples_or_base_model_cannot_be_trained(
    make_dataset: Callable[..., TrainingDataset], lora_rows: dict[str, Any]
) -> None:
    with pytest.raises(DomainError, match="no training examples"):
        services.training_run_create(dataset=make_dataset({"train": []}), params={}, created_by=None)
    with pytest.raises(DomainError, match="needs a base model"):
        services.training_run_create(dataset=make_dataset(lora_rows), params={}, created_by=None)


@pytest.mark.parametrize(
    ("status", "words"), [("queued", "is not built yet"), ("running", "is not built yet"), ("failed", "build it again")]
)
def test_a_dataset_still_building_or_failed_cannot_be_trained(
    lora_dataset: TrainingDataset, status: str, words: str
) -> None:
    TrainingDataset.objects.filter(id=lora_dataset.id).update(status=status)
    lora_dataset.refresh_from_db()
    with pytest.raises(DomainError, match=words) as caught:
        services.training_run_create(dataset=lora_dataset, params={}, created_by=None)
    assert (caught.value.status, caught.value.field) == (409, "dataset")


# --- waiting for a GPU -------------------------------------------------------------------------------


def test_a_worker_without_the_memory_puts_the_run_back_and_it_is_sent_again_later(
    lora_dataset: TrainingDataset, django_capture_on_commit_callbacks: Any
) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    gpu_worker("celery@small", free_mb=run.memory_estimate_mb - 1, dataset=lora_dataset)
    with mock.patch(TASK) as apply_async, django_capture_on_commit_callbacks(execute=True):
        execution.training_run_execute(run_id=run.id, worker_name="celery@small")
    run.refresh_from_db()
    assert (run.status, run.attempt, run.gpu_waits) == ("queued", 0, 1)
    need = run.memory_estimate_mb
    assert run.message == f"Waiting for {need:,} MB of GPU memory: celery@small has {need - 1:,} MB free"
    apply_async.assert_called_once_with(args=[str(run.id)], queue="gpu", countdown=services.GPU_WAIT_S)


def test_two_copies_of_a_waiting_run_send_it_again_once(
    lora_dataset: TrainingDataset, django_capture_on_commit_callbacks: Any
) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    gpu_worker("celery@small", free_mb=0, dataset=lora_dataset)
    stale_copy = TrainingRun.objects.get(id=run.id)
    with mock.patch(TASK) as apply_async, django_capture_on_commit_callbacks(execute=True):
        services.training_run_defer(run=run, reason="Waiting")
        services.training_run_defer(run=stale_copy, reason="Waiting")  # read before the first was put back
    assert apply_async.call_count == 1 and TrainingRun.objects.get(id=run.id).gpu_waits == 1


def test_a_run_requeued_by_the_sweep_is_sent_at_once(
    lora_dataset: TrainingDataset, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    old = timezone.now() - timedelta(seconds=settings.JOB_STALE_S + 30)
    TrainingRun.objects.filter(id=run.id).update(
        status=JobStatus.RUNNING, attempt=1, heartbeat_at=old, gpu_waits=3, gpu_worker="celery@gone"
    )
    with mock.patch(TASK) as send, django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_sweep() == [str(run.id)]
    run.refresh_from_db()
    assert (run.status, run.gpu_waits, run.gpu_worker) == ("queued", 0, "")
    send.assert_called_once_with(args=[str(run.id)], queue="gpu")  # no countdown


def test_a_worker_on_the_gpu_queue_without_a_gpu_trains_lora_on_its_cpu(lora_dataset: TrainingDataset) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    register("celery@laptop", gpus=[], has=(lora_dataset.base_model,))  # type: ignore[arg-type]

    execution.training_run_execute(run_id=run.id, worker_name="celery@laptop")

    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.history and run.artifact_path and run.gpu_worker == "celery@laptop"


def test_a_worker_without_a_gpu_leaves_a_qlora_run_for_one_with_a_gpu(lora_dataset: TrainingDataset) -> None:
    gpu_worker("celery@big", free_mb=140_000, dataset=lora_dataset)
    run = services.training_run_create(dataset=lora_dataset, params={**LORA_FAST, "method": "qlora"}, created_by=None)
    register("celery@laptop", gpus=[], has=(lora_dataset.base_model,))  # type: ignore[arg-type]
    with mock.patch(TASK):
        execution.training_run_execute(run_id=run.id, worker_name="celery@laptop")
    run.refresh_from_db()
    assert (run.status, run.attempt) == ("queued", 0)
    assert run.message == "Waiting for a worker with a GPU: QLoRA needs one, celery@laptop has none"


def test_a_draining_worker_does_not_start_the_run(lora_dataset: TrainingDataset) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    gpu_worker("celery@big", free_mb=80_000, draining=True, dataset=lora_dataset)
    with mock.patch(TASK):
        execution.training_run_execute(run_id=run.id, worker_name="celery@big")
    run.refresh_from_db()
    assert run.status == "queued" and run.message == "Waiting for a worker: celery@big is draining"


def test_after_waiting_too_long_the_run_fails_with_the_reason(lora_dataset: TrainingDataset) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    gpu_worker("celery@small", free_mb=0, dataset=lora_dataset)
    TrainingRun.objects.filter(id=run.id).update(gpu_waits=services.GPU_WAIT_MAX)
    with mock.patch(TASK) as apply_async:
        execution.training_run_execute(run_id=run.id, worker_name="celery@small")
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith(
        f"Waiting for {run.memory_estimate_mb:,} MB of GPU memory: celery@small has 0 MB free for 60 minutes"
    )
    apply_async.assert_not_called()


def test_a_worker_with_room_runs_it_and_shows_the_run_while_it_does(
    lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = services.training_run_create(dataset=lora_dataset, params={**LORA_FAST, "max_steps": 2}, created_by=None)
    gpu_worker("celery@big", free_mb=80_000, dataset=lora_dataset)
    seen: list[str] = []
    original = jobs.job_progress

    def progress(*, job: Any, **kwargs: Any) -> bool:
        seen.append(GpuWorker.objects.get(name="celery@big").current_job)
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", progress)
    execution.training_run_execute(run_id=run.id, worker_name="celery@big")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.gpu_worker == "celery@big" and set(seen[1:]) == {str(run.id)}
    assert GpuWorker.objects.get(name="celery@big").current_job == ""


def test_a_run_already_claimed_elsewhere_is_left_alone(lora_dataset: TrainingDataset) -> None:
    run = services.training_run_create(dataset=lora_dataset, params=LORA_FAST, created_by=None)
    TrainingRun.objects.filter(id=run.id).update(status="running", heartbeat_at=timezone.now() - timedelta(seconds=5))
    execution.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert (run.status, run.attempt, run.step) == ("running", 0, 0)


def test_the_task_passes_the_celery_node_name() -> None:
    from apps.specialists.tasks import training_run_execute_task

    with mock.patch("apps.specialists.execution.training_run_execute") as execute:
        training_run_execute_task.apply(args=["abc"])
    assert execute.call_args.kwargs["run_id"] == "abc" and execute.call_args.kwargs["worker_name"]


def test_both_tasks_are_idempotent_jobs_acked_late() -> None:
    from apps.jobs.registry import kind_for
    from apps.specialists.tasks import dataset_build_task, training_run_execute_task

    for task, model in ((training_run_execute_task, TrainingRun), (dataset_build_task, TrainingDataset)):
        assert task.acks_late and task.reject_on_worker_lost
        assert kind_for(model).task is task and kind_for(model).resumable
    assert (training_run_execute_task.name, dataset_build_task.name) == (
        "specialists.train",
        "specialists.build_dataset",
    )


# --- artifacts ---------------------------------------------------------------------------------------


def test_an_s3_bucket_without_boto3_fails_the_run_saying_so(classifier_dataset: TrainingDataset, settings: Any) -> None:
    settings.ARTIFACT_S3_BUCKET = "specialists"
    run = services.training_run_create(dataset=classifier_dataset, params=None, created_by=None)
    with mock.patch.dict("sys.modules", {"boto3": None}):
        execution.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "failed" and "boto3 is not installed" in run.error


def test_a_finished_run_copies_its_artifacts_to_the_configured_bucket(
    classifier_dataset: TrainingDataset, settings: Any
) -> None:
    """Against a local S3-compatible server (moto's), through the real run."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        settings.ARTIFACT_S3_BUCKET, settings.ARTIFACT_S3_PREFIX = "specialists", "ds"
        settings.ARTIFACT_S3_ENDPOINT_URL = f"http://{host}:{port}"
        settings.ARTIFACT_S3_REGION = "us-east-1"
        settings.ARTIFACT_S3_ACCESS_KEY_ID = settings.ARTIFACT_S3_SECRET_ACCESS_KEY = "test"
        client = artifacts.s3_client()
        client.create_bucket(Bucket="specialists")
        run = services.training_run_create(dataset=classifier_dataset, params=None, created_by=None)

        execution.training_run_execute(run_id=run.id)

        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        listed = client.list_objects_v2(Bucket="specialists", Prefix=f"ds/training/{run.id}/")
        keys = {item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", [])}
        local = {p.name for p in Path(run.artifact_path).rglob("*") if p.is_file()}
        assert local and keys == local
    finally:
        server.stop()


def test_s3_settings_without_boto3_are_improperly_configured(settings: Any) -> None:
    settings.ARTIFACT_S3_BUCKET = "bucket"
    with mock.patch.dict("sys.modules", {"boto3": None}), pytest.raises(ImproperlyConfigured, match="boto3"):
        artifacts.s3_client()
