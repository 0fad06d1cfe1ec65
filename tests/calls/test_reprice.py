"""Re-pricing stored calls after an admin edits the price table is a job, never work in the request."""

from decimal import Decimal
from typing import Any
from unittest import mock

from django.contrib.auth.models import User
from django.test import Client

from apps.calls import services
from apps.calls.ingest import Batch
from apps.calls.models import Call, ModelPrice, RepriceJob
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call


def store(project: Project, model: str, n: int) -> None:
    records = [
        make_call(request={"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(n)
    ]
    services.calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))


def test_the_admin_action_queues_a_job_and_the_job_reprices(
    project: Project, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    store(project, "acme-llm-2026-01-01", 3)
    store(project, "other-llm", 2)
    price = ModelPrice.objects.create(model="acme-llm", input_per_mtok=Decimal("2"), output_per_mtok=Decimal("10"))
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests"))

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/admin/calls/modelprice/", {"action": "reprice", "_selected_action": [price.pk]}, follow=True
        )
    assert response.status_code == 200 and "in the background" in response.content.decode()
    job = RepriceJob.objects.get()
    assert job.status == JobStatus.QUEUED and job.prefixes == ["acme-llm"]
    assert Call.objects.filter(model__startswith="acme-llm", cost=Decimal("0.003")).count() == 0  # not in the request
    with mock.patch("apps.calls.tasks.reprice_job_run_task.apply_async") as apply_async:
        for callback in callbacks:
            callback()
    apply_async.assert_called_once_with(args=[str(job.id)])

    services.reprice_job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.updated == 3 and job.progress == 1.0
    # 1,000 prompt tokens at $2/M plus 100 completion tokens at $10/M
    assert Call.objects.filter(model__startswith="acme-llm", cost=Decimal("0.003")).count() == 3
    assert Call.objects.filter(model="other-llm").exclude(cost=Decimal("0.003")).count() == 2


def test_after_repricing_the_tasks_cached_costs_are_refreshed(project: Project, monkeypatch: Any) -> None:
    store(project, "acme-llm", 2)
    price = ModelPrice.objects.create(model="acme-llm", input_per_mtok=Decimal("2"), output_per_mtok=Decimal("10"))
    refreshed: list[Any] = []
    monkeypatch.setattr(
        "apps.discovery.services.task_cluster_stats_refresh", lambda project_id: refreshed.append(project_id)
    )
    job = services.reprice_job_create(model_prices=[price], created_by=None)
    services.reprice_job_run(job_id=str(job.id))
    assert refreshed == [project.id]
