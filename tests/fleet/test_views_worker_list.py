"""The GPU workers page: who sees it, the polled panel, and the admins' actions (POST, then redirect)."""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.fleet.models import GpuWorker
from apps.fleet.services import worker_stop
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import TrainingRun

URL = "/workers/"


@pytest.fixture
def admin_client(login: Callable[[User], Client], site_admin: User) -> Client:
    return login(site_admin)


def test_the_page_lists_workers_with_status_gpus_and_current_job(
    admin_client: Client,
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
) -> None:
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", stage="training", progress=0.4)
    make_worker("celery@gpu-1", age_s=3, current_job=str(run.id), queues=["gpu", "gpu-large"])
    make_worker("celery@gpu-2", age_s=600, gpus=[])
    response = admin_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "celery@gpu-1" in html and "celery@gpu-2" in html
    assert '<span class="chip">gpu-large</span>' in html
    assert '<span class="badge badge-ok">online</span>' in html
    assert re.search(r"heartbeat [3-9] s ago", html)  # 3 s old when made; a slow first request adds a few
    assert '<span class="badge badge-cancelled">offline</span>' in html and "heartbeat 10 min ago" in html
    assert "NVIDIA H200" in html and "20.0 / 140.4 GB · 37% busy" in html and "progress-bar w-14" in html
    assert f'href="/p/acme/specialists/runs/{run.id}/"' in html and "training · 40%" in html
    assert 'name="concurrency"' in html and 'value="1"' in html
    assert 'hx-trigger="every 5s' in html
    assert 'href="/workers/" aria-current="page">GPU workers</a>' in html


def test_a_stopped_worker_says_so(admin_client: Client, make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1")
    worker_stop(name="celery@gpu-1")
    html = admin_client.get(URL).content.decode()
    assert "stopped cleanly" in html and "offline" in html


def test_htmx_polling_gets_only_the_panel(admin_client: Client, make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1")
    response = admin_client.get(URL, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="workers-panel"') and "<html" not in html
    assert "celery@gpu-1" in html


def test_the_empty_state_says_how_to_start_a_worker(admin_client: Client) -> None:
    html = admin_client.get(URL).content.decode()
    assert "No GPU workers yet" in html and "celery -A controlplane worker -Q gpu" in html


@pytest.mark.parametrize("role", ["viewer", "owner", "engineer"])
def test_other_roles_get_403(login: Callable[[User], Client], role: str, request: pytest.FixtureRequest) -> None:
    client = login(request.getfixturevalue(role))
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}celery@gpu-1/drain/").status_code == 403
    assert 'href="/workers/"' not in client.get("/").content.decode()


def test_staff_may_open_it_and_a_project_admin_may_not(
    login: Callable[[User], Client], admin_user: User, make_user: Callable[..., User]
) -> None:
    assert login(make_user("ops", is_staff=True)).get(URL).status_code == 200
    client = login(admin_user)  # an admin of a project
    refused = client.get(URL)
    assert refused.status_code == 403 and "only site administrators (staff) manage them" in refused.content.decode()
    assert client.post(f"{URL}celery@gpu-1/drain/").status_code == 403


def test_a_person_in_no_project_gets_403(login: Callable[[User], Client], make_user: Callable[..., User]) -> None:
    assert login(make_user("nobody")).get(URL).status_code == 403


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/workers/")
    response = client.get(URL, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith("/login/?next=")
    assert client.post(f"{URL}celery@gpu-1/drain/").status_code == 302


def test_drain_then_resume_without_javascript(admin_client: Client, make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1")
    response = admin_client.post(f"{URL}celery@gpu-1/drain/")
    assert response.status_code == 302 and response["Location"] == URL
    assert GpuWorker.objects.get(name="celery@gpu-1").draining
    html = admin_client.get(URL).content.decode()
    assert "celery@gpu-1 is draining" in html and '<span class="badge badge-excluded">draining</span>' in html
    assert "Resume</button>" in html
    response = admin_client.post(f"{URL}celery@gpu-1/resume/")
    assert response.status_code == 302 and not GpuWorker.objects.get(name="celery@gpu-1").draining


def test_an_htmx_action_returns_the_panel(admin_client: Client, make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1")
    response = admin_client.post(f"{URL}celery@gpu-1/drain/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="workers-panel"')
    assert "is draining" in html


def test_concurrency_is_set_and_checked(admin_client: Client, make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1")
    response = admin_client.post(f"{URL}celery@gpu-1/concurrency/", {"concurrency": "3"})
    assert response.status_code == 302 and GpuWorker.objects.get(name="celery@gpu-1").concurrency == 3
    assert "runs 3 jobs at once" in admin_client.get(URL).content.decode()
    for bad in ("0", "many", ""):
        response = admin_client.post(f"{URL}celery@gpu-1/concurrency/", {"concurrency": bad}, HTTP_HX_REQUEST="true")
        assert response.status_code == 400 and "Concurrency is a whole number from 1 to" in response.content.decode()
    assert GpuWorker.objects.get(name="celery@gpu-1").concurrency == 3


def test_cancel_job(
    admin_client: Client,
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
) -> None:
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1")
    make_worker("celery@gpu-1", current_job=str(run.id))
    assert "Cancel job</button>" in admin_client.get(URL).content.decode()
    response = admin_client.post(f"{URL}celery@gpu-1/cancel-job/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested
    assert "Cancel requested" in admin_client.get(URL).content.decode()


def test_cancel_without_a_job_explains(admin_client: Client, make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1")
    response = admin_client.post(f"{URL}celery@gpu-1/cancel-job/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409 and "is not running a training run" in response.content.decode()
    response = admin_client.post(f"{URL}celery@gpu-1/cancel-job/", follow=True)
    assert "is not running a training run" in response.content.decode()


def test_an_unknown_worker_is_404_and_get_on_an_action_is_405(
    admin_client: Client, make_worker: Callable[..., GpuWorker]
) -> None:
    assert admin_client.post(f"{URL}celery@nowhere/drain/").status_code == 404
    make_worker("celery@gpu-1")
    assert admin_client.get(f"{URL}celery@gpu-1/drain/").status_code == 405
    assert admin_client.post(URL).status_code == 405


def test_an_offline_worker_runs_nothing_and_offers_no_cancel(
    admin_client: Client,
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
) -> None:
    run = make_run(project, status=JobStatus.QUEUED, message="Requeued after gpu-1:42 stopped heartbeating")
    make_worker("celery@gpu-1", age_s=600, current_job=str(run.id))  # died mid-run: the sweep requeued its run
    html = admin_client.get(URL).content.decode()
    assert '<span class="badge badge-cancelled">offline</span>' in html
    assert str(run.id)[:8] not in html and "Cancel job</button>" not in html
