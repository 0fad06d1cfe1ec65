"""POST /api/v1/rescans and GET /api/v1/rescans/{job_id}."""

from typing import Any
from unittest import mock

import pytest
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.curation import services
from apps.curation.models import RescanJob
from apps.curation.scanner import CustomPattern
from apps.curation.selectors import curation_policy_get
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.conftest import make_call

URL = "/api/v1/rescans"
JOB_FIELDS = {
    "id", "status", "stage", "progress", "message", "policy_version", "total", "done", "changed", "error",
    "created_at", "started_at", "finished_at",
}  # fmt: skip


def employee_id_policy(project: Project) -> None:
    """Save the policy with a recognizer for employee ids: the version goes up to 2."""
    policy = curation_policy_get(project=project)
    change = services.PolicyChange(
        entities={e: (s["enabled"], s["threshold"]) for e, s in services.policy_entities(policy).items()},
        allow_list=[],
        custom=[CustomPattern(entity="EMPLOYEE_ID", pattern=r"EMP-\d{6}", score=0.8)],
        operator=policy.operator,
        ner_model_path="",
        max_call_tokens=policy.max_call_tokens,
    )
    services.curation_policy_update(project=project, user=None, change=change)


@pytest.fixture
def stale_calls(project: Project) -> None:
    """Two calls stored under policy v1, one with an employee id that v2 finds."""
    records = [
        make_call(id="a"),
        make_call(id="b", request={"model": "gpt-4o", "messages": [{"role": "user", "content": "Badge EMP-123456?"}]}),
    ]
    assert calls_ingest(project=project, batch=Batch(records=list(enumerate(records)))).accepted == 2
    employee_id_policy(project)


@pytest.fixture
def queued_job(project: Project, stale_calls: None) -> RescanJob:
    return services.rescan_job_create(project=project, created_by=None)


def test_starts_a_rescan_and_queues_it_after_commit(
    api_client: Client, project: Project, stale_calls: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(URL)
    assert response.status_code == 202
    body = response.json()
    job = RescanJob.objects.get(project=project)
    assert set(body) == JOB_FIELDS
    assert body["id"] == str(job.id)
    assert (body["status"], body["stage"], body["progress"]) == ("queued", "queued", 0.0)
    assert (body["policy_version"], body["total"], body["done"], body["changed"]) == (2, 2, 0, 0)
    assert (body["error"], body["started_at"], body["finished_at"]) == ("", None, None)
    assert job.created_by is None
    assert len(callbacks) == 1
    with mock.patch("apps.curation.tasks.rescan_job_run_task.apply_async") as apply_async:
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(job.id)])


def test_a_second_start_while_one_is_queued_is_409_and_queues_nothing(
    api_client: Client, project: Project, queued_job: RescanJob, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(URL)
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "A re-scan is already running for this project",
        "errors": [{"field": "rescan", "message": "A re-scan is already running for this project"}],
    }
    assert list(RescanJob.objects.filter(project=project)) == [queued_job] and callbacks == []


def test_a_running_rescan_also_blocks_a_second_start(api_client: Client, queued_job: RescanJob) -> None:
    RescanJob.objects.filter(id=queued_job.id).update(status=JobStatus.RUNNING)
    assert api_client.post(URL).status_code == 409


def test_after_a_rescan_ends_a_new_one_can_start(api_client: Client, project: Project, queued_job: RescanJob) -> None:
    services.rescan_job_cancel(job=queued_job)
    response = api_client.post(URL)
    assert response.status_code == 202 and response.json()["id"] != str(queued_job.id)


def test_another_projects_rescan_does_not_block_this_one(
    api_client: Client, project: Project, other_project: Project
) -> None:
    services.rescan_job_create(project=other_project, created_by=None)
    assert api_client.post(URL).status_code == 202


def test_starting_needs_a_key(client: Client, project: Project) -> None:
    response = client.post(URL)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert not RescanJob.objects.exists()


def test_a_key_without_the_discover_scope_cannot_start_a_rescan(client: Client, project: Project) -> None:
    _, secret = api_key_create(project=project, name="reader", scopes=["ingest", "read"])
    response = client.post(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and "discover" in response.json()["message"]
    assert not RescanJob.objects.exists()


def test_gets_a_rescan_with_its_progress(api_client: Client, project: Project) -> None:
    job = RescanJob.objects.create(
        project=project, policy_version=3, status="running", stage="re-scanning", progress=0.5, total=1000, done=500,
        changed=12, message="500 of 1,000 calls re-scanned, 12 changed",
    )  # fmt: skip
    response = api_client.get(f"{URL}/{job.id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["stage"], body["progress"]) == (str(job.id), "running", "re-scanning", 0.5)
    assert (body["policy_version"], body["total"], body["done"], body["changed"]) == (3, 1000, 500, 12)
    assert body["message"] == "500 of 1,000 calls re-scanned, 12 changed"


def test_a_rescan_end_to_end_recurates_the_stale_calls(
    api_client: Client, project: Project, stale_calls: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks():
        started = api_client.post(URL)
    job_id = started.json()["id"]

    services.rescan_job_run(job_id=job_id)  # what the worker does with the queued message

    body = api_client.get(f"{URL}/{job_id}").json()
    assert body["status"] == "succeeded", body["error"]
    assert (body["progress"], body["done"], body["total"], body["changed"]) == (1.0, 2, 2, 1)
    assert body["finished_at"] is not None and body["message"] == "2 calls re-scanned, 1 changed"
    assert set(Call.objects.filter(project=project).values_list("curation_version", flat=True)) == {2}
    rescanned = Call.objects.get(project=project, client_id="b")
    assert "EMP-123456" not in str(rescanned.request) and rescanned.pii_counts == {"EMPLOYEE_ID": 1}
    assert api_client.get("/api/v1/curation/report").json()["stale_calls"] == 0


def test_another_projects_rescan_is_404(api_client: Client, other_project: Project) -> None:
    job = services.rescan_job_create(project=other_project, created_by=None)
    response = api_client.get(f"{URL}/{job.id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("job_id", ["12", "not-a-uuid", "3f0e0c9e-6a43-4f7c-9d84-2f7bb1d2c001"])
def test_an_unknown_or_malformed_rescan_id_is_404(api_client: Client, job_id: str) -> None:
    response = api_client.get(f"{URL}/{job_id}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_reading_a_rescan_needs_a_key_with_the_read_scope(client: Client, project: Project) -> None:
    job = services.rescan_job_create(project=project, created_by=None)
    assert client.get(f"{URL}/{job.id}").status_code == 401
    _, secret = api_key_create(project=project, name="writer", scopes=["ingest", "discover"])
    response = client.get(f"{URL}/{job.id}", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and "read" in response.json()["message"]


def test_wrong_method_is_405(api_client: Client, queued_job: RescanJob) -> None:
    assert api_client.get(URL).status_code == 405
    assert api_client.put(URL).status_code == 405
    assert api_client.post(f"{URL}/{queued_job.id}").status_code == 405
    assert api_client.delete(f"{URL}/{queued_job.id}").status_code == 405
    queued_job.refresh_from_db()
    assert queued_job.status == JobStatus.QUEUED
