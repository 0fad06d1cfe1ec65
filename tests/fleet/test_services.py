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
    site_admin: User,
    admin_user: User,
    owner: User,
    engineer: User,
    viewer: User,
    make_user: Callable[..., User],
) -> None:
    assert user_may_manage_workers(user=site_admin)
    assert user_may_manage_workers(user=make_user("root", is_superuser=True))
    # Workers belong to the installation: a project's admin, like every other role, does not manage them.
    for user in (admin_user, owner, engineer, viewer, make_user("nobody")):
        assert not user_may_manage_workers(user=user)


def test_an_admin_of_a_project_may_not_drain_a_worker(make_worker: Callable[..., GpuWorker], outsider: User) -> None:
    make_worker()
    with pytest.raises(PermissionDenied):
        services.worker_drain(name="celery@gpu-1", by=outsider)


def test_drain_and_resume(make_worker: Callable[..., GpuWorker], site_admin: User) -> None:
    make_worker("celery@gpu-1")
    assert services.worker_drain(name="celery@gpu-1", by=site_admin).draining
    assert GpuWorker.objects.get(name="celery@gpu-1").draining
    assert [row.status for row in worker_list()] == [WorkerStatus.DRAINING]
    assert not services.worker_resume(name="celery@gpu-1", by=site_admin).draining
    assert [row.status for row in worker_list()] == [WorkerStatus.ONLINE]


def test_concurrency_is_bounded(make_worker: Callable[..., GpuWorker], site_admin: User) -> None:
    make_worker("celery@gpu-1")
    assert services.worker_concurrency_set(name="celery@gpu-1", concurrency=4, by=site_admin).concurrency == 4
    for bad in (0, services.MAX_CONCURRENCY + 1):
        with pytest.raises(DomainError) as info:
            services.worker_concurrency_set(name="celery@gpu-1", concurrency=bad, by=site_admin)
        assert info.value.field == "concurrency"
    assert GpuWorker.objects.get(name="celery@gpu-1").concurrency == 4


def test_cancel_asks_the_current_run_to_stop(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    site_admin: User,
) -> None:
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1")
    make_worker("celery@gpu-1", current_job=str(run.id))
    assert services.worker_job_cancel(name="celery@gpu-1", by=site_admin).id == run.id
    run.refresh_from_db()
    assert run.cancel_requested and run.status == JobStatus.RUNNING


def test_cancel_without_a_job_is_a_conflict(make_worker: Callable[..., GpuWorker], site_admin: User) -> None:
    make_worker("celery@gpu-1")
    with pytest.raises(Conflict):
        services.worker_job_cancel(name="celery@gpu-1", by=site_admin)


def test_actions_need_an_admin_and_an_existing_worker(
    make_worker: Callable[..., GpuWorker], owner: User, site_admin: User
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
        services.worker_resume(name="celery@nowhere", by=site_admin)


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
