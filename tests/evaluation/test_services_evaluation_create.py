"""Starting an evaluation: the candidate and the task are checked, the job is queued after commit."""

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from apps.common.errors import DomainError, NotFound
from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.jobs import registry
from apps.projects.models import Project
from apps.specialists.models import CatalogModel, TrainingDataset, TrainingRun
from tests.specialists.selection_helpers import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def training_run(sentiment_task: TaskCluster) -> TrainingRun:
    dataset = TrainingDataset.objects.create(project=sentiment_task.project, cluster=sentiment_task, status="succeeded")
    return TrainingRun.objects.create(project=sentiment_task.project, cluster=sentiment_task, dataset=dataset)


def test_it_queues_the_job_on_the_cpu_queue_after_commit(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    assert len(callbacks) == 1
    assert (evaluation.status, evaluation.kind, evaluation.target) == ("queued", "label", settings.EVALUATION_TARGET)
    assert (evaluation.endpoint, evaluation.project, evaluation.candidate_kind) == (
        endpoint,
        endpoint.project,
        "endpoint",
    )
    assert registry.kind_for(Evaluation).options(evaluation) == {"queue": "cpu"}
    assert registry.kind_for(Evaluation).resumable


def test_training_runs_and_base_models_are_refused_saying_what_to_do_instead(
    sentiment_task: TaskCluster, training_run: TrainingRun
) -> None:
    with pytest.raises(DomainError) as refused:
        services.evaluation_create(cluster=sentiment_task, training_run=training_run)
    assert (refused.value.status, refused.value.code, refused.value.field) == (400, "not_supported", "candidate")
    assert refused.value.message.startswith("Only model endpoint candidates can be evaluated so far")
    model = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(DomainError, match="Only model endpoint candidates"):
        services.evaluation_create(cluster=sentiment_task, base_model=model, shots=3)
    assert not Evaluation.objects.exists()


def test_exactly_one_candidate(sentiment_task: TaskCluster, endpoint: ModelEndpoint, training_run: TrainingRun) -> None:
    with pytest.raises(DomainError, match="exactly one candidate"):
        services.evaluation_create(cluster=sentiment_task)
    with pytest.raises(DomainError, match="exactly one candidate"):
        services.evaluation_create(cluster=sentiment_task, endpoint=endpoint, training_run=training_run)
    with pytest.raises(DomainError, match="shots go with a base model"):
        services.evaluation_create(cluster=sentiment_task, endpoint=endpoint, shots=2)


def test_the_database_holds_the_one_candidate_rule_too(sentiment_task: TaskCluster, endpoint: ModelEndpoint) -> None:
    model = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(IntegrityError), transaction.atomic():
        Evaluation.objects.create(
            project=endpoint.project, cluster=sentiment_task, endpoint=endpoint, base_model=model, shots=0, target=0.9
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Evaluation.objects.create(project=endpoint.project, cluster=sentiment_task, base_model=model, target=0.9)


def test_another_projects_endpoint_is_not_found(
    sentiment_task: TaskCluster, other_project: Project, fake_openai: Any
) -> None:
    theirs = services.endpoint_create(project=other_project, name="x", base_url=fake_openai.base_url, model="m")
    with pytest.raises(NotFound):
        services.evaluation_create(cluster=sentiment_task, endpoint=theirs)


def test_a_task_that_cannot_be_scored_or_has_nothing_to_test_on_is_refused(
    project: Project, sentiment_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    TaskCluster.objects.filter(id=sentiment_task.id).update(output_kind="none")
    sentiment_task.refresh_from_db()
    with pytest.raises(DomainError, match="no kind that can be scored") as refused:
        services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    assert refused.value.code == "not_scorable"
    with pytest.raises(DomainError, match="no trainable calls"):
        services.evaluation_create(cluster=make_task(project), endpoint=endpoint)
    TaskCluster.objects.filter(id=sentiment_task.id).update(output_kind="label", status="merged")
    sentiment_task.refresh_from_db()
    with pytest.raises(DomainError, match="merged into another"):
        services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)


def test_a_target_outside_0_to_1_is_refused(sentiment_task: TaskCluster, endpoint: ModelEndpoint) -> None:
    with pytest.raises(DomainError, match="target"):
        services.evaluation_create(cluster=sentiment_task, endpoint=endpoint, target=1.0)
