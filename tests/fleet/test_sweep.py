"""A dead worker's training run: the one jobs sweep (apps.jobs, Celery beat's `jobs.sweep`) requeues it,
exactly once, and sends it again; fleet itself no longer touches training runs. The dead worker reads as
offline, running nothing."""

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from apps.fleet.models import GpuWorker
from apps.fleet.selectors import WorkerStatus, worker_list
from apps.jobs.models import JobStatus
from apps.jobs.services import jobs_sweep
from apps.projects.models import Project
from apps.specialists.models import TrainingRun

SEND = "apps.specialists.tasks.training_run_execute_task.apply_async"


def _old(settings: Any) -> Any:
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_S + 60)


def test_a_silent_workers_running_run_is_requeued_and_sent_again(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = make_run(
        project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", worker="gpu-1:42", heartbeat_at=_old(settings),
        attempt=2, queue="gpu",
    )  # fmt: skip
    make_worker("celery@gpu-1", age_s=settings.JOB_STALE_S + 30, current_job=str(run.id))
    with mock.patch(SEND) as send, django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep() == [str(run.id)]
        assert jobs_sweep() == []
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED and run.attempt == 2
    assert run.message == "Requeued after gpu-1:42 stopped heartbeating (attempt 2)"
    assert run.gpu_worker == "" and run.worker == ""
    send.assert_called_once_with(args=[str(run.id)], queue="gpu")
    (row,) = worker_list()
    assert row.status == WorkerStatus.OFFLINE and row.current_job == ""  # it runs nothing now


def test_a_classifier_run_goes_back_to_the_cpu_queue(
    make_run: Callable[..., TrainingRun], project: Project, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = make_run(project, status=JobStatus.RUNNING, worker="cpu-box:4242", heartbeat_at=_old(settings), queue="cpu")
    with mock.patch(SEND) as send, django_capture_on_commit_callbacks(execute=True):
        jobs_sweep()
    send.assert_called_once_with(args=[str(run.id)], queue="cpu")


def test_runs_still_reporting_and_finished_runs_are_left_alone(
    make_run: Callable[..., TrainingRun], project: Project, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    reporting = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@silent", heartbeat_at=timezone.now())
    finished = make_run(project, status=JobStatus.SUCCEEDED, gpu_worker="celery@silent", heartbeat_at=_old(settings))
    with mock.patch(SEND) as send, django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep() == []
    send.assert_not_called()
    statuses = {r.id: r.status for r in TrainingRun.objects.all()}
    assert statuses == {reporting.id: JobStatus.RUNNING, finished.id: JobStatus.SUCCEEDED}


def test_a_run_asked_to_cancel_is_cancelled_not_requeued(
    make_run: Callable[..., TrainingRun], project: Project, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = make_run(
        project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=_old(settings), cancel_requested=True
    )
    with mock.patch(SEND) as send, django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep() == [str(run.id)]
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.finished_at is not None
    send.assert_not_called()


def test_after_its_last_attempt_a_run_fails_with_a_reason(
    make_run: Callable[..., TrainingRun], project: Project, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = make_run(
        project, status=JobStatus.RUNNING, worker="gpu-1:42", heartbeat_at=_old(settings),
        attempt=settings.JOB_MAX_ATTEMPTS,
    )  # fmt: skip
    with mock.patch(SEND) as send, django_capture_on_commit_callbacks(execute=True):
        jobs_sweep()
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "start the training run again" in run.error
    send.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_requeue_a_run_exactly_once(
    make_run: Callable[..., TrainingRun], project: Project, settings: Any
) -> None:
    runs = [
        make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=_old(settings))
        for _ in range(5)
    ]
    start = threading.Barrier(2)
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def sweep() -> None:
        try:
            start.wait(timeout=10)
            results.append(jobs_sweep())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    with mock.patch(SEND) as send:
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures
    assert sorted(results[0] + results[1]) == sorted(str(r.id) for r in runs)  # each run won by one sweeper
    assert sorted(call.kwargs["args"][0] for call in send.call_args_list) == sorted(str(r.id) for r in runs)
    assert set(TrainingRun.objects.values_list("status", flat=True)) == {JobStatus.QUEUED}
