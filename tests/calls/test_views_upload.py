from collections.abc import Callable
from typing import Any
from unittest import mock

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.calls import services
from apps.calls.models import Call, ImportJob
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call

URL = "/p/acme/uploads/"


def jsonl_file(name: str = "calls.jsonl") -> SimpleUploadedFile:
    """Two good calls and, between them, a line that is not JSON."""
    lines = [orjson.dumps(make_call(id="good-1")), b'{"id": "half', orjson.dumps(make_call(id="good-2"))]
    return SimpleUploadedFile(name, b"\n".join(lines) + b"\n", content_type="application/x-ndjson")


def job_url(job: ImportJob) -> str:
    return f"/p/acme/uploads/{job.id}/"


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


def upload(client: Client, file: SimpleUploadedFile) -> Any:
    return client.post(URL, {"file": file})


def test_the_page_has_the_form_and_recent_uploads(engineer_client: Client, project: Project, engineer: User) -> None:
    services.import_job_create(project=project, upload=jsonl_file(), filename="last-week.jsonl", created_by=engineer)
    html = engineer_client.get(URL).content.decode()
    assert 'enctype="multipart/form-data"' in html and 'type="file"' in html
    assert "last-week.jsonl" in html and "Queued" in html
    assert 'hx-trigger="every 2s"' in html  # the list refreshes while an upload is running


def test_uploading_stores_the_good_calls_and_reports_the_broken_line(
    engineer_client: Client, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(engineer_client, jsonl_file())
    job = ImportJob.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.filename == "calls.jsonl" and job.status == JobStatus.QUEUED
    with mock.patch("apps.calls.tasks.import_job_run_task.apply_async") as apply_async:
        assert len(callbacks) == 1
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(job.id)])

    queued = engineer_client.get(job_url(job)).content.decode()
    assert "Queued" in queued and 'hx-trigger="every 2s"' in queued and "Cancel import" in queued

    services.import_job_run(job_id=str(job.id))
    html = engineer_client.get(job_url(job)).content.decode()
    assert "Succeeded" in html and "100%" in html
    assert "2 calls stored, 0 duplicates, 1 rejected" in html
    assert '<div class="stat-label">Stored</div><div class="stat-value">2</div>' in html
    # the broken line, second in the file, with its error
    assert '<td class="num" rowspan="1">2</td>' in html and "not valid JSON" in html
    # finished: no more polling, nothing to cancel
    assert "every 2s" not in html and "Cancel import" not in html
    assert set(Call.objects.filter(project=project).values_list("client_id", flat=True)) == {"good-1", "good-2"}


def test_a_file_that_is_not_jsonl_is_refused_on_the_form(engineer_client: Client, project: Project) -> None:
    response = upload(engineer_client, SimpleUploadedFile("calls.csv", b"a,b\n1,2\n"))
    assert response.status_code == 400
    assert "Upload a .jsonl file (gzip is fine): one call per line" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_no_file_is_a_form_error(engineer_client: Client) -> None:
    response = engineer_client.post(URL, {})
    assert response.status_code == 400 and "Choose a .jsonl file to upload." in response.content.decode()


def test_htmx_polling_gets_only_the_status_fragment(engineer_client: Client, project: Project, engineer: User) -> None:
    job = services.import_job_create(project=project, upload=jsonl_file(), filename="a.jsonl", created_by=engineer)
    response = engineer_client.get(job_url(job), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="job-status"') and "<html" not in html
    assert 'hx-trigger="every 2s"' in html


def test_htmx_gets_only_the_recent_uploads(engineer_client: Client) -> None:
    html = engineer_client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="recent-uploads"') and "No uploads yet." in html


def test_cancel_stops_a_queued_job(engineer_client: Client, project: Project, engineer: User) -> None:
    job = services.import_job_create(project=project, upload=jsonl_file(), filename="a.jsonl", created_by=engineer)
    response = engineer_client.post(f"{job_url(job)}cancel/")
    assert response.status_code == 302 and response["Location"] == job_url(job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    html = engineer_client.get(job_url(job)).content.decode()
    assert "Cancelled" in html and "every 2s" not in html


def test_cancel_over_htmx_returns_the_status_fragment(
    engineer_client: Client, project: Project, engineer: User
) -> None:
    job = services.import_job_create(project=project, upload=jsonl_file(), filename="a.jsonl", created_by=engineer)
    html = engineer_client.post(f"{job_url(job)}cancel/", HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="job-status"') and "Cancelled" in html and "every 2s" not in html


def test_cancel_is_post_only(engineer_client: Client, project: Project, engineer: User) -> None:
    job = services.import_job_create(project=project, upload=jsonl_file(), filename="a.jsonl", created_by=engineer)
    assert engineer_client.get(f"{job_url(job)}cancel/").status_code == 405


def test_a_viewer_cannot_upload(login: Callable[[User], Client], viewer: User, project: Project) -> None:
    client = login(viewer)
    assert client.get(URL).status_code == 403
    assert upload(client, jsonl_file()).status_code == 403
    assert not ImportJob.objects.exists()


def test_a_viewer_cannot_cancel(
    login: Callable[[User], Client], viewer: User, project: Project, engineer: User
) -> None:
    job = services.import_job_create(project=project, upload=jsonl_file(), filename="a.jsonl", created_by=engineer)
    assert login(viewer).post(f"{job_url(job)}cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_another_projects_job_is_404(engineer_client: Client, other_project: Project) -> None:
    job = services.import_job_create(project=other_project, upload=jsonl_file(), filename="a.jsonl", created_by=None)
    assert engineer_client.get(job_url(job)).status_code == 404
    assert engineer_client.post(f"{job_url(job)}cancel/").status_code == 404


def test_anonymous_is_sent_to_log_in(client: Client, project: Project) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_gets_404(login: Callable[[User], Client], outsider: User, project: Project) -> None:
    assert login(outsider).get(URL).status_code == 404


def test_put_is_405(engineer_client: Client) -> None:
    assert engineer_client.put(URL).status_code == 405
