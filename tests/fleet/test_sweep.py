"""The stale sweep: a silent worker's running training run goes back to the queue, exactly once."""

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.fleet import services
from apps.fleet.models import GpuWorker
from apps.fleet.selectors import STALE_S
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import TrainingRun


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], str]]:
    calls: list[tuple[str, list[str], str]] = []
    lock = threading.Lock()

    def send_task(name: str, args: list[str], queue: str) -> None:
        with lock:
            calls.append((name, args, queue))

    monkeypatch.setattr("apps.fleet.services.celery_app.send_task", send_task)
    return calls


def _old() -> Any:
    return timezone.now() - timedelta(seconds=STALE_S + 60)


def test_a_silent_workers_running_run_is_requeued_and_sent_again(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    sent: list[tuple[str, list[str], str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_worker("celery@gpu-1", age_s=STALE_S + 30, current_job="x")
    run = make_run(
        project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=_old(), attempt=2, queue="gpu"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.workers_sweep() == [str(run.id)]
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED and run.attempt == 2
    assert run.message == "Requeued: worker celery@gpu-1 stopped heartbeating"
    assert run.gpu_worker == "" and run.worker == ""
    assert sent == [("specialists.train", [str(run.id)], "gpu")]
    assert GpuWorker.objects.get(name="celery@gpu-1").current_job == ""
    with django_capture_on_commit_callbacks(execute=True):
        assert services.workers_sweep() == []
    assert len(sent) == 1


def test_a_run_is_matched_by_its_job_worker_name_too(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    sent: list[tuple[str, list[str], str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_worker("gpu-box:4242", age_s=STALE_S + 30)
    run = make_run(project, status=JobStatus.RUNNING, worker="gpu-box:4242", heartbeat_at=_old(), queue="cpu")
    with django_capture_on_commit_callbacks(execute=True):
        services.workers_sweep()
    assert sent == [("specialists.train", [str(run.id)], "cpu")]


def test_live_workers_and_runs_still_reporting_are_left_alone(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    sent: list[tuple[str, list[str], str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_worker("celery@live", age_s=10)
    make_worker("celery@silent", age_s=STALE_S + 30)
    on_live = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@live", heartbeat_at=_old())
    reporting = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@silent", heartbeat_at=timezone.now())
    finished = make_run(project, status=JobStatus.SUCCEEDED, gpu_worker="celery@silent", heartbeat_at=_old())
    with django_capture_on_commit_callbacks(execute=True):
        assert services.workers_sweep() == []
    assert sent == []
    statuses = {r.id: r.status for r in TrainingRun.objects.all()}
    assert statuses == {
        on_live.id: JobStatus.RUNNING,
        reporting.id: JobStatus.RUNNING,
        finished.id: JobStatus.SUCCEEDED,
    }


def test_a_run_asked_to_cancel_is_cancelled_not_requeued(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    sent: list[tuple[str, list[str], str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_worker("celery@gpu-1", age_s=STALE_S + 30)
    run = make_run(
        project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=_old(), cancel_requested=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.workers_sweep() == []
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.finished_at is not None and sent == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_requeue_a_run_exactly_once(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    sent: list[tuple[str, list[str], str]],
) -> None:
    make_worker("celery@gpu-1", age_s=STALE_S + 30)
    runs = [
        make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=_old()) for _ in range(5)
    ]
    start = threading.Barrier(2)
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def sweep() -> None:
        try:
            start.wait(timeout=10)
            results.append(services.workers_sweep())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    requeued = results[0] + results[1]
    assert sorted(requeued) == sorted(str(r.id) for r in runs)  # each run won by one sweeper only
    assert sorted(args[0] for _, args, _ in sent) == sorted(str(r.id) for r in runs)
    assert set(TrainingRun.objects.values_list("status", flat=True)) == {JobStatus.QUEUED}


def test_the_sweep_workers_command(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    sent: list[tuple[str, list[str], str]],
    capsys: pytest.CaptureFixture[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_worker("celery@gpu-1", age_s=STALE_S + 30)
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=_old())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep_workers")
    out = capsys.readouterr().out
    assert f"requeued training run {run.id}" in out and "1 training run(s) requeued" in out
    assert len(sent) == 1
