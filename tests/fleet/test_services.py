"""The admins' decisions on a worker, and who may take them."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.common.errors import Conflict, DomainError, NotFound, PermissionDenied
from apps.fleet import services
from apps.fleet.models import GpuWorker
from apps.fleet.selectors import WorkerStatus, user_may_manage_workers, worker_list
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import TrainingRun


def test_who_may_manage_workers(
    admin_user: User,
    owner: User,
    engineer: User,
    viewer: User,
    make_user: Callable[..., User],
) -> None:
    assert user_may_manage_workers(user=admin_user)
    assert user_may_manage_workers(user=make_user("ops", is_staff=True))
    assert user_may_manage_workers(user=make_user("root", is_superuser=True))
    for user in (owner, engineer, viewer, make_user("nobody")):
        assert not user_may_manage_workers(user=user)


def test_an_admin_of_any_project_may_manage_workers(outsider: User) -> None:
    assert user_may_manage_workers(user=outsider)  # workers are shared by every project


def test_drain_and_resume(make_worker: Callable[..., GpuWorker], admin_user: User) -> None:
    make_worker("celery@gpu-1")
    assert services.worker_drain(name="celery@gpu-1", by=admin_user).draining
    assert GpuWorker.objects.get(name="celery@gpu-1").draining
    assert [row.status for row in worker_list()] == [WorkerStatus.DRAINING]
    assert not services.worker_resume(name="celery@gpu-1", by=admin_user).draining
    assert [row.status for row in worker_list()] == [WorkerStatus.ONLINE]


def test_concurrency_is_bounded(make_worker: Callable[..., GpuWorker], admin_user: User) -> None:
    make_worker("celery@gpu-1")
    assert services.worker_concurrency_set(name="celery@gpu-1", concurrency=4, by=admin_user).concurrency == 4
    for bad in (0, services.MAX_CONCURRENCY + 1):
        with pytest.raises(DomainError) as info:
            services.worker_concurrency_set(name="celery@gpu-1", concurrency=bad, by=admin_user)
        assert info.value.field == "concurrency"
    assert GpuWorker.objects.get(name="celery@gpu-1").concurrency == 4


def test_cancel_asks_the_current_run_to_stop(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    admin_user: User,
) -> None:
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1")
    make_worker("celery@gpu-1", current_job=str(run.id))
    assert services.worker_job_cancel(name="celery@gpu-1", by=admin_user).id == run.id
    run.refresh_from_db()
    assert run.cancel_requested and run.status == JobStatus.RUNNING


def test_cancel_without_a_job_is_a_conflict(make_worker: Callable[..., GpuWorker], admin_user: User) -> None:
    make_worker("celery@gpu-1")
    with pytest.raises(Conflict):
        services.worker_job_cancel(name="celery@gpu-1", by=admin_user)


def test_actions_need_an_admin_and_an_existing_worker(
    make_worker: Callable[..., GpuWorker], owner: User, admin_user: User
) -> None:
    make_worker("celery@gpu-1")
    with pytest.raises(PermissionDenied):
        services.worker_drain(name="celery@gpu-1", by=owner)
    with pytest.raises(PermissionDenied):
        services.worker_concurrency_set(name="celery@gpu-1", concurrency=2, by=owner)
    with pytest.raises(PermissionDenied):
        services.worker_job_cancel(name="celery@gpu-1", by=owner)
    assert not GpuWorker.objects.get(name="celery@gpu-1").draining
    with pytest.raises(NotFound):
        services.worker_resume(name="celery@nowhere", by=admin_user)


def test_statuses_follow_the_heartbeat_age(make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@a", age_s=5)
    make_worker("celery@b", age_s=45)
    make_worker("celery@c", age_s=600)
    make_worker("celery@d", age_s=5, draining=True)
    statuses = {row.worker.name: row.status for row in worker_list()}
    assert statuses == {
        "celery@a": WorkerStatus.ONLINE,
        "celery@b": WorkerStatus.STALE,
        "celery@c": WorkerStatus.OFFLINE,
        "celery@d": WorkerStatus.DRAINING,
    }
