"""Re-scans apply a changed policy to stored calls: progress, idempotent, resumable, enqueued on commit."""

from typing import Any

import pytest
from django.db import connection

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.common.errors import Conflict
from apps.curation import services
from apps.curation.models import NearDuplicateKey, RescanJob
from apps.curation.services import POLICY_TYPES, PolicyChange, curation_policy_update
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call


def policy(**overrides: Any) -> PolicyChange:
    values: dict[str, Any] = {
        "entities": {e: (e not in ("ORGANIZATION", "PERSON"), 0.4) for e in POLICY_TYPES},
        "allow_list": [],
        "custom": [],
        "operator": "replace",
        "ner_model_path": "",
        "max_call_tokens": 8192,
    }
    values.update(overrides)
    return PolicyChange(**values)


def with_names_off_then_on(project: Project, n: int) -> None:
    """Store n calls while person names are not redacted, then switch names on."""
    curation_policy_update(project=project, user=None, change=policy())
    records = [
        make_call(
            request={"model": "m", "messages": [{"role": "user", "content": f"Ticket {i} from Samuel Lindqvist"}]}
        )
        for i in range(n)
    ]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    assert Call.objects.filter(project=project, request__icontains="Lindqvist").count() == n
    on = {e: (e != "ORGANIZATION", 0.4) for e in POLICY_TYPES}
    curation_policy_update(project=project, user=None, change=policy(entities=on))


def stored_names(project: Project) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM calls_call WHERE project_id = %s AND request::text LIKE '%%Lindqvist%%'", [project.id]
        )
        return int(cursor.fetchone()[0])


def test_creating_a_rescan_enqueues_it_after_commit(project: Project, django_capture_on_commit_callbacks: Any) -> None:
    with_names_off_then_on(project, 3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.rescan_job_create(project=project, created_by=None)
    assert len(callbacks) == 1 and job.total == 3 and job.policy_version == 3
    with pytest.raises(Conflict):
        services.rescan_job_create(project=project, created_by=None)


def test_a_rescan_redacts_what_the_new_policy_finds_and_counts_it(project: Project) -> None:
    with_names_off_then_on(project, 5)
    job = services.rescan_job_create(project=project, created_by=None)
    services.rescan_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.changed, job.progress) == (JobStatus.SUCCEEDED, 5, 5, 5, 1.0)
    assert stored_names(project) == 0
    call = Call.objects.filter(project=project).first()
    assert call is not None and call.pii_counts == {"PERSON": 1} and call.curation_version == 3
    assert call.preview.endswith("from <PERSON>")


def test_a_second_run_changes_nothing(project: Project) -> None:
    with_names_off_then_on(project, 4)
    first = services.rescan_job_create(project=project, created_by=None)
    services.rescan_job_run(job_id=str(first.id))
    before = list(Call.objects.filter(project=project).order_by("id").values_list("request", "pii_counts"))
    again = services.rescan_job_create(project=project, created_by=None)
    services.rescan_job_run(job_id=str(again.id))
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED and again.total == 0 and again.done == 0
    assert list(Call.objects.filter(project=project).order_by("id").values_list("request", "pii_counts")) == before


def test_a_cancelled_rescan_stops_and_a_new_one_finishes_the_rest(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_names_off_then_on(project, 7)
    monkeypatch.setattr(services, "RESCAN_BATCH", 3)
    job = services.rescan_job_create(project=project, created_by=None)
    real_progress = services.jobs.job_progress

    def cancel_after_first_batch(**kwargs: Any) -> bool:
        real_progress(**kwargs)
        return False  # as if someone pressed Cancel during the first batch

    monkeypatch.setattr(services.jobs, "job_progress", cancel_after_first_batch)
    services.rescan_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.done == 3
    assert stored_names(project) == 4
    monkeypatch.setattr(services.jobs, "job_progress", real_progress)
    rest = services.rescan_job_create(project=project, created_by=None)
    assert rest.total == 4
    services.rescan_job_run(job_id=str(rest.id))
    assert stored_names(project) == 0


def test_a_worker_that_died_is_resumed_where_it_stopped(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    with_names_off_then_on(project, 5)
    monkeypatch.setattr(services, "RESCAN_BATCH", 2)
    job = services.rescan_job_create(project=project, created_by=None)
    calls_seen = []
    real_batch = services._rescan_batch

    def die_on_second_batch(**kwargs: Any) -> int:
        calls_seen.append(len(kwargs["calls"]))
        if len(calls_seen) == 2:
            raise RuntimeError("worker lost")
        return real_batch(**kwargs)

    monkeypatch.setattr(services, "_rescan_batch", die_on_second_batch)
    with pytest.raises(RuntimeError):
        services.rescan_job_run(job_id=str(job.id))
    assert stored_names(project) == 3  # the first batch is stored, the second rolled back
    monkeypatch.setattr(services, "_rescan_batch", real_batch)
    RescanJob.objects.filter(id=job.id).update(status=JobStatus.QUEUED)  # Celery re-delivers (acks_late)
    services.rescan_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.done == 5 and stored_names(project) == 0


def test_a_rescan_works_out_eligibility_again(project: Project) -> None:
    records = [make_call(usage={"prompt_tokens": 5000, "completion_tokens": 10})]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    call = Call.objects.get(project=project)
    assert call.trainable and NearDuplicateKey.objects.filter(call_id=call.id).count() == 8
    curation_policy_update(project=project, user=None, change=policy(max_call_tokens=4000))
    job = services.rescan_job_create(project=project, created_by=None)
    services.rescan_job_run(job_id=str(job.id))
    call = Call.objects.get(project=project)
    assert (call.trainable, call.exclusion_reason) == (False, "too_long")
    assert not NearDuplicateKey.objects.filter(call_id=call.id).exists()  # no longer a candidate original
