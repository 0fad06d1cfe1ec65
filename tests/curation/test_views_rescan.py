from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.curation import services
from apps.curation.models import RescanJob
from apps.curation.selectors import curation_policy_get
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call

START_URL = "/p/acme/curation/rescans/"


def job_url(job: RescanJob) -> str:
    return f"/p/acme/curation/rescans/{job.id}/"


def allow_list_policy(project: Project, allow_list: list[str]) -> None:
    policy = curation_policy_get(project=project)
    change = services.PolicyChange(
        entities={e: (s["enabled"], s["threshold"]) for e, s in services.policy_entities(policy).items()},
        allow_list=allow_list,
        custom=[],
        operator=policy.operator,
        ner_model_path="",
        max_call_tokens=policy.max_call_tokens,
    )
    services.curation_policy_update(project=project, user=None, change=change)


@pytest.fixture
def stale_calls(project: Project) -> None:
    """Two calls stored under policy v1, then the policy moves to v2."""
    records = [
        make_call(id="a"),
        make_call(id="b", request={"model": "gpt-4o", "messages": [{"role": "user", "content": "Refund?"}]}),
    ]
    assert calls_ingest(project=project, batch=Batch(records=list(enumerate(records)))).accepted == 2
    allow_list_policy(project, ["support@acme.example.com"])


@pytest.fixture
def owner_client(login: Callable[[User], Client], owner: User) -> Client:
    return login(owner)


@pytest.fixture
def queued_job(project: Project, owner: User, stale_calls: None) -> RescanJob:
    return services.rescan_job_create(project=project, created_by=owner)


def test_starting_a_rescan_queues_a_job_and_shows_its_page(
    owner_client: Client, project: Project, owner: User, stale_calls: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(START_URL)
    job = RescanJob.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == JobStatus.QUEUED and job.policy_version == 2 and job.total == 2 and job.created_by == owner
    assert len(callbacks) == 1
    with mock.patch("apps.curation.tasks.rescan_job_run_task.apply_async") as apply_async:
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(job.id)])

    html = owner_client.get(job_url(job)).content.decode()
    assert "<html" in html and "Re-scan under policy v2" in html and "Queued" in html
    assert 'hx-trigger="every 2s"' in html and "Cancel re-scan" in html and "0 of 2 calls" in html


def test_a_second_start_while_one_is_queued_makes_no_new_job(
    owner_client: Client, project: Project, queued_job: RescanJob, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(START_URL, follow=True)
    assert response.redirect_chain == [("/p/acme/curation/", 302)]
    assert "A re-scan is already running for this project" in response.content.decode()
    assert list(RescanJob.objects.filter(project=project)) == [queued_job] and callbacks == []


def test_a_finished_job_page_stops_polling(owner_client: Client, project: Project, queued_job: RescanJob) -> None:
    services.rescan_job_run(job_id=str(queued_job.id))
    assert set(Call.objects.filter(project=project).values_list("curation_version", flat=True)) == {2}
    html = owner_client.get(job_url(queued_job)).content.decode()
    assert "Succeeded" in html and "100%" in html and "2 calls re-scanned, 0 changed" in html
    assert "hx-trigger" not in html and "Cancel re-scan" not in html and "Back to the report" in html


def test_htmx_polling_gets_only_the_status_fragment(owner_client: Client, queued_job: RescanJob) -> None:
    response = owner_client.get(job_url(queued_job), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="job-status"')
    assert f'hx-get="{job_url(queued_job)}" hx-trigger="every 2s"' in html


def test_htmx_fragment_of_a_finished_job_has_no_trigger(owner_client: Client, queued_job: RescanJob) -> None:
    services.rescan_job_run(job_id=str(queued_job.id))
    html = owner_client.get(job_url(queued_job), HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="job-status"') and "Succeeded" in html
    assert "hx-trigger" not in html and "hx-get" not in html


def test_a_viewer_can_watch_but_not_cancel(
    login: Callable[[User], Client], viewer: User, queued_job: RescanJob
) -> None:
    client = login(viewer)
    html = client.get(job_url(queued_job)).content.decode()
    assert "Queued" in html and "Cancel re-scan" not in html
    assert client.post(f"{job_url(queued_job)}cancel/").status_code == 403
    queued_job.refresh_from_db()
    assert queued_job.status == JobStatus.QUEUED


def test_a_viewer_cannot_start_a_rescan(
    login: Callable[[User], Client], viewer: User, project: Project, stale_calls: None
) -> None:
    assert login(viewer).post(START_URL).status_code == 403
    assert not RescanJob.objects.exists()


def test_an_engineer_cannot_start_a_rescan(
    login: Callable[[User], Client], engineer: User, project: Project, stale_calls: None
) -> None:
    assert login(engineer).post(START_URL).status_code == 403
    assert not RescanJob.objects.exists()


def test_cancel_stops_a_queued_job(owner_client: Client, queued_job: RescanJob) -> None:
    response = owner_client.post(f"{job_url(queued_job)}cancel/")
    assert response.status_code == 302 and response["Location"] == job_url(queued_job)
    queued_job.refresh_from_db()
    assert queued_job.status == JobStatus.CANCELLED
    html = owner_client.get(job_url(queued_job)).content.decode()
    assert "Cancelled" in html and "every 2s" not in html and "Cancel re-scan" not in html


def test_cancel_over_htmx_returns_the_status_fragment(owner_client: Client, queued_job: RescanJob) -> None:
    html = owner_client.post(f"{job_url(queued_job)}cancel/", HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="job-status"') and "Cancelled" in html and "every 2s" not in html


def test_after_a_cancel_a_new_rescan_can_start(
    owner_client: Client, project: Project, queued_job: RescanJob, django_capture_on_commit_callbacks: Any
) -> None:
    owner_client.post(f"{job_url(queued_job)}cancel/")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(START_URL)
    fresh = RescanJob.objects.exclude(id=queued_job.id).get(project=project)
    assert response["Location"] == job_url(fresh) and len(callbacks) == 1


def test_another_projects_job_is_404(owner_client: Client, other_project: Project) -> None:
    job = services.rescan_job_create(project=other_project, created_by=None)
    assert owner_client.get(job_url(job)).status_code == 404
    assert owner_client.post(f"{job_url(job)}cancel/").status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_start_and_cancel_are_post_only(owner_client: Client, queued_job: RescanJob) -> None:
    assert owner_client.get(START_URL).status_code == 405
    assert owner_client.get(f"{job_url(queued_job)}cancel/").status_code == 405
    assert owner_client.post(job_url(queued_job)).status_code == 405


def test_anonymous_is_sent_to_log_in(client: Client, queued_job: RescanJob) -> None:
    response = client.get(job_url(queued_job))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User, queued_job: RescanJob) -> None:
    client = login(outsider)
    assert client.get(job_url(queued_job)).status_code == 404
    assert client.post(START_URL).status_code == 404
