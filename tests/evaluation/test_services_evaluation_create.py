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
from tests.specialists.workers_helpers import gpu, register

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


def test_a_training_run_must_have_succeeded_and_be_of_this_project(
    sentiment_task: TaskCluster, training_run: TrainingRun, other_project: Project
) -> None:
    with pytest.raises(DomainError) as refused:
        services.evaluation_create(cluster=sentiment_task, training_run=training_run)
    assert (refused.value.status, refused.value.code, refused.value.field) == (
        409,
        "not_finished",
        "candidate.training_run",
    )
    assert refused.value.message == "This training run has not finished: evaluate a run that succeeded."
    TrainingRun.objects.filter(id=training_run.id).update(status="failed")
    training_run.refresh_from_db()
    with pytest.raises(DomainError, match="This training run failed"):
        services.evaluation_create(cluster=sentiment_task, training_run=training_run)
    theirs = make_task(other_project)
    dataset = TrainingDataset.objects.create(project=other_project, cluster=theirs, status="succeeded")
    their_run = TrainingRun.objects.create(
        project=other_project, cluster=theirs, dataset=dataset, status="succeeded", artifact_path="/x"
    )
    with pytest.raises(NotFound, match="No such training run in this project"):
        services.evaluation_create(cluster=sentiment_task, training_run=their_run)
    assert not Evaluation.objects.exists()


def test_a_base_model_takes_0_to_16_shots_and_a_worker_that_has_its_weights(sentiment_task: TaskCluster) -> None:
    model = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    for shots in (-1, 17):
        with pytest.raises(DomainError, match="0 to 16") as refused:
            services.evaluation_create(cluster=sentiment_task, base_model=model, shots=shots)
        assert (refused.value.status, refused.value.field) == (422, "candidate.shots")
    with pytest.raises(DomainError, match="No GPU worker has registered") as refused:
        services.evaluation_create(cluster=sentiment_task, base_model=model, shots=3)
    assert (refused.value.status, refused.value.code) == (409, "cannot_run")
    register("celery@gpu-box", gpus=[gpu(80_000)])  # a worker without Qwen's weights
    with pytest.raises(DomainError, match=r"Weights for Qwen2\.5 0\.5B Instruct .* are not on any GPU worker"):
        services.evaluation_create(cluster=sentiment_task, base_model=model, shots=3)
    CatalogModel.objects.filter(id=model.id).update(chat_template=False)
    model.refresh_from_db()
    with pytest.raises(DomainError, match="has no chat template"):
        services.evaluation_create(cluster=sentiment_task, base_model=model)
    assert not Evaluation.objects.exists()


def test_a_base_model_or_a_lora_run_goes_to_the_gpu_queue_and_a_classifier_to_the_cpu_queue(
    sentiment_task: TaskCluster, training_run: TrainingRun, django_capture_on_commit_callbacks: Any
) -> None:
    model = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    register("celery@gpu-box", gpus=[gpu(80_000)], has=(model,), queues=("gpu", "cpu"), encoder=True)
    with django_capture_on_commit_callbacks() as callbacks:
        evaluation = services.evaluation_create(cluster=sentiment_task, base_model=model, shots=4)
    assert len(callbacks) == 1
    assert (evaluation.base_model, evaluation.shots, evaluation.queue) == (model, 4, "gpu")
    assert registry.kind_for(Evaluation).options(evaluation) == {"queue": "gpu"}
    assert services.evaluation_create(cluster=sentiment_task, base_model=model).shots == 0
    TrainingRun.objects.filter(id=training_run.id).update(status="succeeded", artifact_path="/a", base_model=model)
    training_run.refresh_from_db()
    assert services.evaluation_create(cluster=sentiment_task, training_run=training_run).queue == "gpu"
    TrainingRun.objects.filter(id=training_run.id).update(kind="classifier", base_model=None)
    training_run.refresh_from_db()
    evaluation = services.evaluation_create(cluster=sentiment_task, training_run=training_run)
    assert (evaluation.queue, evaluation.message) == ("cpu", "Waiting for a worker on the cpu queue")


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
