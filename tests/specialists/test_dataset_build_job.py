"""The dataset build as a job: streamed in pages, with progress, fenced writes, cancellation, and a clean
redo after its worker was killed."""

from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from apps.calls.models import Call
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists import datasets, services
from apps.specialists.models import CatalogModel, DatasetExample, TrainingDataset
from tests.specialists.selection_helpers import build, conversation, make_task, stored

pytestmark = pytest.mark.django_db
TASK = "apps.specialists.tasks.dataset_build_task.apply_async"


class WorkerKilled(BaseException):
    """Like SIGKILL: none of the build's own error handling runs."""


@pytest.fixture
def qwen() -> CatalogModel:
    return CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")


@pytest.fixture
def task(project: Project) -> Any:
    records = []
    for t in range(45):
        records += conversation(f"t{t}", 2, trace_id=f"trace-{t}")
    return make_task(project, calls=stored(project, records))


def snapshot(dataset: TrainingDataset) -> tuple[Any, ...]:
    files = {name: (Path(dataset.path) / f"{name}.jsonl").read_bytes() for name in ("train", "val", "test")}
    examples = set(dataset.examples.values_list("call_id", "split", "group_key"))
    counts = (dataset.train_count, dataset.val_count, dataset.test_count)
    return files, examples, counts, dataset.test_hash, dataset.warnings


def test_any_page_size_builds_the_same_dataset(task: Any, qwen: CatalogModel, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = snapshot(build(task, qwen, seed=5))
    TrainingDataset.objects.all().delete()  # no frozen test split: the same choices decide again
    monkeypatch.setattr(datasets, "PAGE", 7)
    paged = build(task, qwen, seed=5)
    assert snapshot(paged) == whole and sum(whole[2]) == 90
    assert (paged.calls_done, paged.calls_total) == (90, 90)


def test_a_later_dataset_read_in_pages_keeps_the_frozen_test_split(
    task: Any, qwen: CatalogModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(task, qwen, seed=5)
    monkeypatch.setattr(datasets, "PAGE", 4)
    later = build(task, qwen, seed=99)
    assert later.test_hash == first.test_hash and later.test_count == first.test_count
    assert (Path(later.path) / "test.jsonl").read_bytes() == (Path(first.path) / "test.jsonl").read_bytes()
    assert later.calls_total == 90 + first.test_count  # the frozen test calls are read first


def test_the_build_reports_progress_page_by_page(
    task: Any, qwen: CatalogModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets, "PAGE", 20)
    seen: list[tuple[float, int]] = []
    original = jobs.job_progress

    def progress(*, job: Any, **kwargs: Any) -> bool:
        seen.append((kwargs["fraction"], kwargs["calls_done"]))
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", progress)
    dataset = build(task, qwen)
    assert [done for _, done in seen] == [0, 20, 40, 60, 80, 90, 90]  # start, five pages, moving into place
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-2][0] < 1
    assert (dataset.progress, dataset.stage, dataset.attempt) == (1.0, "done", 1)
    assert (
        dataset.message.startswith(f"Built: {dataset.train_count:,} training,") and "from 90 calls" in dataset.message
    )


def test_a_build_killed_midway_is_requeued_by_the_sweep_and_redone_cleanly(
    task: Any, qwen: CatalogModel, monkeypatch: pytest.MonkeyPatch, settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    reference = snapshot(build(task, qwen, seed=3))
    TrainingDataset.objects.all().delete()
    monkeypatch.setattr(datasets, "PAGE", 25)
    dataset = services.dataset_create(cluster=task, base_model=qwen, seed=3)
    original = jobs.job_progress

    def killed_after_two_pages(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("calls_done") == 50:
            raise WorkerKilled
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", killed_after_two_pages)
    with pytest.raises(WorkerKilled):
        datasets.dataset_build_run(dataset_id=dataset.id)
    monkeypatch.setattr(jobs, "job_progress", original)
    dataset.refresh_from_db()
    assert (dataset.status, dataset.attempt, dataset.calls_done) == (JobStatus.RUNNING, 1, 25)
    assert DatasetExample.objects.filter(dataset=dataset).count() == 50  # two pages stored before the kill

    datasets.dataset_build_run(dataset_id=dataset.id)  # a re-delivered message: the build is still claimed
    dataset.refresh_from_db()
    assert (dataset.status, dataset.attempt) == (JobStatus.RUNNING, 1)

    gone = timezone.now() - timedelta(seconds=settings.JOB_STALE_S + 1)
    TrainingDataset.objects.filter(id=dataset.id).update(heartbeat_at=gone)
    with mock.patch(TASK) as send, django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_sweep() == [str(dataset.id)]
    send.assert_called_once_with(args=[str(dataset.id)], queue="cpu")
    dataset.refresh_from_db()
    assert dataset.status == JobStatus.QUEUED and "stopped heartbeating" in dataset.message

    datasets.dataset_build_run(dataset_id=dataset.id)  # what the worker does with the message the sweep sent
    dataset.refresh_from_db()
    assert (dataset.status, dataset.attempt) == (JobStatus.SUCCEEDED, 2)
    assert snapshot(dataset) == reference  # the same files and examples, none twice
    assert not list(Path(dataset.path).parent.glob("*.attempt-*"))  # the killed attempt's folder went too


def test_a_stale_builds_writes_are_refused(task: Any, qwen: CatalogModel, settings: Any) -> None:
    dataset = services.dataset_create(cluster=task, base_model=qwen)
    stale = jobs.job_claim(model=TrainingDataset, job_id=dataset.id)
    assert isinstance(stale, TrainingDataset)
    gone = timezone.now() - timedelta(seconds=settings.JOB_STALE_S + 1)
    TrainingDataset.objects.filter(id=dataset.id).update(heartbeat_at=gone)
    current = jobs.job_claim(model=TrainingDataset, job_id=dataset.id)
    assert isinstance(current, TrainingDataset) and current.attempt == 2

    call = Call.objects.filter(task_cluster=task).first()
    assert call is not None
    example = DatasetExample(dataset=dataset, call=call, split="train", group_key="g")
    assert services.dataset_examples_add(dataset=stale, examples=[example]) is False
    assert services.dataset_examples_clear(dataset=stale) is False
    assert jobs.job_progress(job=stale, fraction=0.5, calls_done=1) is False
    assert (
        services.dataset_build_succeed(dataset=stale, folder=Path("/stale"), counts={"train": 1, "val": 0, "test": 0})
        is False
    )
    assert not DatasetExample.objects.exists()
    assert services.dataset_examples_add(dataset=current, examples=[example]) is True
    dataset.refresh_from_db()
    assert (dataset.status, dataset.path, dataset.attempt) == (JobStatus.RUNNING, "", 2)


def test_a_build_asked_to_cancel_stops_and_ends_cancelled(
    task: Any, qwen: CatalogModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets, "PAGE", 10)
    dataset = services.dataset_create(cluster=task, base_model=qwen)
    original = jobs.job_progress

    def cancel_after_the_first_page(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("calls_done") == 10:
            jobs.job_request_cancel(job=TrainingDataset.objects.get(id=job.id))
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", cancel_after_the_first_page)
    datasets.dataset_build_run(dataset_id=dataset.id)
    dataset.refresh_from_db()
    assert dataset.status == JobStatus.CANCELLED and dataset.calls_done == 10
    assert not Path(datasets.dataset_folder(dataset.id)).exists()
    assert not list(Path(datasets.dataset_folder(dataset.id)).parent.glob("*.attempt-*"))


def test_calls_excluded_between_the_request_and_the_build_fail_it_saying_why(task: Any, qwen: CatalogModel) -> None:
    dataset = services.dataset_create(cluster=task, base_model=qwen)
    Call.objects.filter(task_cluster=task).update(trainable=False)  # a re-scan under a stricter policy
    datasets.dataset_build_run(dataset_id=dataset.id)
    dataset.refresh_from_db()
    assert dataset.status == JobStatus.FAILED and "nothing to train on" in dataset.error
    assert not datasets.dataset_folder(dataset.id).exists() and not DatasetExample.objects.exists()


def test_creating_a_dataset_queues_its_build_on_the_cpu_queue_after_commit(
    task: Any, qwen: CatalogModel, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        dataset = services.dataset_create(cluster=task, base_model=qwen)
    assert (dataset.status, dataset.path, dataset.train_count) == (JobStatus.QUEUED, "", 0)
    assert not DatasetExample.objects.exists()  # nothing is read in the request
    with mock.patch(TASK) as send:
        for callback in callbacks:
            callback()
    send.assert_called_once_with(args=[str(dataset.id)], queue="cpu")
