"""A queued job of any kind says what it waits for when no worker can take it."""

from collections.abc import Callable

from django.contrib.auth.models import User
from django.test import Client

from apps.calls.models import ImportJob
from apps.fleet.models import GpuWorker
from apps.projects.models import Project


def queued_upload(project: Project) -> ImportJob:
    return ImportJob.objects.create(
        project=project, filename="calls.jsonl", stage="queued", message="Waiting for a worker on the cpu queue"
    )


def page(client: Client, job: ImportJob) -> str:
    return client.get(f"/p/{job.project.slug}/uploads/{job.id}/").content.decode()


def test_with_no_worker_on_its_queue_the_job_says_so_and_how_to_start_one(
    login: Callable[[User], Client], engineer: User, project: Project
) -> None:
    html = page(login(engineer), queued_upload(project))
    assert "no worker takes the cpu queue" in html and "celery -A controlplane worker -Q cpu" in html


def test_with_only_a_silent_or_draining_worker_the_job_names_it(
    login: Callable[[User], Client], engineer: User, project: Project, make_worker: Callable[..., GpuWorker]
) -> None:
    client, job = login(engineer), queued_upload(project)
    worker = make_worker("celery@cpu-1", age_s=600, queues=["cpu"], gpus=[])
    assert "no worker on the cpu queue is online (celery@cpu-1" in page(client, job)
    GpuWorker.objects.filter(name=worker.name).update(heartbeat_at=job.created_at, draining=True)
    make_worker("celery@cpu-2", queues=["cpu"], gpus=[], draining=True)
    assert "every worker on the cpu queue is draining" in page(client, job)


def test_with_a_worker_able_to_take_it_the_job_shows_its_own_message(
    login: Callable[[User], Client], engineer: User, project: Project, make_worker: Callable[..., GpuWorker]
) -> None:
    make_worker("celery@cpu-1", queues=["cpu"], gpus=[])
    html = page(login(engineer), queued_upload(project))
    assert "Waiting for a worker on the cpu queue" in html and "no worker" not in html
