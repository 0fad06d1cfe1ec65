import gzip
import io
from pathlib import Path

import orjson
import pytest
from django.contrib.auth.models import User

from apps.calls import services
from apps.calls.models import Call, ImportJob
from apps.common.errors import DomainError
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import SAMPLE_PATH, make_call


def jsonl(*records: object, broken: bool = False) -> bytes:
    lines = [orjson.dumps(r) for r in records]
    if broken:
        lines.insert(1, b'{"id": "half')
    return b"\n".join(lines) + b"\n"


def test_the_upload_is_enqueued_after_commit(
    project: Project, engineer: User, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.import_job_create(
            project=project, upload=io.BytesIO(jsonl(make_call())), filename="calls.jsonl", created_by=engineer
        )
    assert len(callbacks) == 1
    assert Path(job.path).read_bytes().count(b"\n") == 1
    assert job.status == JobStatus.QUEUED and str(job.id) in job.path


def test_the_job_imports_reports_errors_and_finishes(project: Project, engineer: User) -> None:
    data = jsonl(make_call(id="a"), make_call(id="b", latency_ms="x"), make_call(id="c"), broken=True)
    job = services.import_job_create(
        project=project, upload=io.BytesIO(data), filename="calls.jsonl", created_by=engineer
    )
    services.import_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress == 1.0
    assert (job.accepted, job.duplicates, job.rejected_count, job.lines_done) == (2, 0, 2, 4)
    assert [r["index"] for r in job.rejected] == [1, 2]
    assert job.rejected[1]["errors"][0]["field"] == "latency_ms"
    assert set(Call.objects.filter(project=project).values_list("client_id", flat=True)) == {"a", "c"}


def test_a_redelivered_job_does_nothing_more(project: Project) -> None:
    job = services.import_job_create(
        project=project, upload=io.BytesIO(jsonl(make_call(id="a"))), filename="calls.jsonl", created_by=None
    )
    services.import_job_run(job_id=str(job.id))
    services.import_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.attempt == 1 and Call.objects.filter(project=project).count() == 1


def test_an_interrupted_job_resumes_after_its_last_batch(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "IMPORT_BATCH", 2)
    records = [make_call(id=f"r{i}") for i in range(5)]
    job = services.import_job_create(
        project=project, upload=io.BytesIO(jsonl(*records)), filename="calls.jsonl", created_by=None
    )
    # A worker died after storing the first batch: the row says 2 lines done, status running, stale.
    services.calls_import_file(project=project, path=Path(job.path), progress=lambda total, lines, pos: lines < 2)
    ImportJob.objects.filter(id=job.id).update(status=JobStatus.QUEUED, lines_done=2, accepted=2)
    services.import_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.accepted, job.duplicates) == (5, 0)
    assert Call.objects.filter(project=project).count() == 5


def test_a_cancelled_job_stops(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "IMPORT_BATCH", 2)
    job = services.import_job_create(
        project=project,
        upload=io.BytesIO(jsonl(*[make_call() for _ in range(6)])),
        filename="calls.jsonl",
        created_by=None,
    )
    original = services.jobs.job_progress

    def cancel_during(**kwargs):  # type: ignore[no-untyped-def]
        ImportJob.objects.filter(id=job.id).update(cancel_requested=True)
        return original(**kwargs)

    monkeypatch.setattr(services.jobs, "job_progress", cancel_during)
    services.import_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert Call.objects.filter(project=project).count() < 6


def test_a_missing_file_fails_the_job_with_a_message(project: Project) -> None:
    job = services.import_job_create(
        project=project, upload=io.BytesIO(jsonl(make_call())), filename="calls.jsonl", created_by=None
    )
    Path(job.path).unlink()
    services.import_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "upload it again" in job.error


def test_gzip_files_import(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl(make_call(id="z1"), make_call(id="z2"))))
    result = services.calls_import_file(project=project, path=path)
    assert result.accepted == 2


def test_only_jsonl_files_are_taken(project: Project) -> None:
    with pytest.raises(DomainError) as info:
        services.import_job_create(project=project, upload=io.BytesIO(b"a,b"), filename="calls.csv", created_by=None)
    assert info.value.field == "file"


def test_the_whole_sample_imports(project: Project) -> None:
    result = services.calls_import_file(project=project, path=SAMPLE_PATH)
    assert (result.accepted, result.rejected_count) == (3000, 0)
    assert Call.objects.filter(project=project, response__tool_calls__isnull=False).count() == 375


def run_upload(project: Project, data: bytes) -> ImportJob:
    job = services.import_job_create(project=project, upload=io.BytesIO(data), filename="calls.jsonl", created_by=None)
    services.import_job_run(job_id=str(job.id))
    job.refresh_from_db()
    return job


def test_an_upload_in_which_no_line_is_valid_fails_and_says_why(project: Project) -> None:
    job = run_upload(project, jsonl(make_call(latency_ms="x"), make_call(agent=7), broken=True))
    assert job.status == JobStatus.FAILED and job.rejected_count == 3
    assert job.error == "No call was stored: 3 lines rejected (see the errors below)"
    assert [r["index"] for r in job.rejected] == [0, 1, 2]


def test_an_empty_upload_fails_and_says_why(project: Project) -> None:
    job = run_upload(project, b"\n\n")
    assert job.status == JobStatus.FAILED and "the file holds no calls" in job.error


def test_the_summary_counts_one_call_in_the_singular(project: Project) -> None:
    job = run_upload(project, jsonl(make_call(id="only")))
    assert job.message == "1 call stored, 0 duplicates, 0 rejected"


def test_an_upload_of_calls_already_stored_succeeds_and_says_nothing_was_new(project: Project) -> None:
    data = jsonl(make_call(id="a"), make_call(id="b"))
    assert run_upload(project, data).status == JobStatus.SUCCEEDED
    again = run_upload(project, data)
    assert again.status == JobStatus.SUCCEEDED and again.message == "Nothing new: 2 calls already stored"
    assert Call.objects.filter(project=project).count() == 2


def test_a_line_over_the_per_call_limit_is_rejected_and_the_rest_stored(project: Project, settings: object) -> None:
    settings.INGEST_MAX_BYTES = 4096  # type: ignore[attr-defined]
    huge = make_call(id="huge", response={"role": "assistant", "content": "x" * 5000})
    job = run_upload(project, jsonl(make_call(id="a"), huge, make_call(id="c")))
    assert job.status == JobStatus.SUCCEEDED and (job.accepted, job.rejected_count) == (2, 1)
    assert job.rejected[0]["index"] == 1 and "a call can be at most" in job.rejected[0]["errors"][0]["message"]
