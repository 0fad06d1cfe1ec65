"""A task's scoring settings: defaults, what task_scoring_set refuses, and what evaluations take from them."""

from typing import Any

import pytest

from apps.common.errors import DomainError
from apps.discovery.models import TaskCluster
from apps.evaluation import selectors, services
from apps.evaluation.models import Evaluation, ModelEndpoint, TaskScoring
from apps.projects.models import Project
from tests.evaluation.conftest import sample_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def text_task(project: Project, sample_records: list[dict[str, Any]]) -> TaskCluster:
    return sample_task(project, sample_records, "summarization_tldr", output_kind="text", labels=[])


def test_a_task_that_sets_nothing_has_the_project_defaults(sentiment_task: TaskCluster, settings: Any) -> None:
    settings.EVALUATION_TARGET = 0.9
    scoring = selectors.task_scoring_get(cluster=sentiment_task)
    assert (scoring.target, scoring.text_metric, scoring.text_threshold, scoring.judge_endpoint) == (
        0.9, "cosine", 0.85, None
    )  # fmt: skip
    assert scoring.target_is_default and scoring.threshold_is_default and scoring.updated_at is None
    assert not scoring.text_applies  # a label task


def test_set_and_read_back_with_the_metrics_default_threshold(text_task: TaskCluster, endpoint: ModelEndpoint) -> None:
    services.task_scoring_set(cluster=text_task, target=0.8, text_metric="judge", judge_endpoint=endpoint)
    scoring = selectors.task_scoring_get(cluster=text_task)
    assert (scoring.target, scoring.text_metric, scoring.text_threshold, scoring.judge_endpoint) == (
        0.8, "judge", 0.8, endpoint
    )  # fmt: skip
    assert not scoring.target_is_default and scoring.threshold_is_default and scoring.text_applies

    services.task_scoring_set(cluster=text_task, text_metric="rouge_l", text_threshold=0.3)  # the rest: defaults
    scoring = selectors.task_scoring_get(cluster=text_task)
    assert (scoring.target, scoring.text_metric, scoring.text_threshold, scoring.judge_endpoint) == (
        0.95, "rouge_l", 0.3, None
    )  # fmt: skip
    assert scoring.target_is_default and not scoring.threshold_is_default
    assert TaskScoring.objects.filter(cluster=text_task).count() == 1


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"target": 1.0}, "target"),
        ({"target": 0.0}, "target"),
        ({"target": float("nan")}, "target"),
        ({"text_metric": "bleu"}, "text_metric"),
        ({"text_threshold": 0.0}, "text_threshold"),
        ({"text_threshold": 1.01}, "text_threshold"),
        ({"text_threshold": float("inf")}, "text_threshold"),
        ({"text_metric": "judge"}, "judge_endpoint"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(text_task: TaskCluster, given: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as raised:
        services.task_scoring_set(cluster=text_task, **given)
    assert (raised.value.field, raised.value.status) == (field, 422)
    assert not TaskScoring.objects.exists()


def test_a_threshold_of_1_is_allowed(text_task: TaskCluster) -> None:
    assert services.task_scoring_set(cluster=text_task, text_threshold=1.0).text_threshold == 1.0


def test_a_judge_endpoint_goes_with_the_judge_metric_only_and_from_the_same_project(
    text_task: TaskCluster, endpoint: ModelEndpoint, other_project: Project
) -> None:
    with pytest.raises(DomainError) as raised:
        services.task_scoring_set(cluster=text_task, text_metric="cosine", judge_endpoint=endpoint)
    assert (raised.value.field, raised.value.status) == ("judge_endpoint", 422)
    theirs = services.endpoint_create(project=other_project, name="judge", base_url="http://h/v1", model="m")
    with pytest.raises(DomainError) as raised:
        services.task_scoring_set(cluster=text_task, text_metric="judge", judge_endpoint=theirs)
    assert (raised.value.field, raised.value.status) == ("judge_endpoint", 404)
    assert not TaskScoring.objects.exists()


def test_an_evaluation_takes_the_tasks_target_unless_given_one(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    assert services.evaluation_create(cluster=sentiment_task, endpoint=endpoint).target == 0.95
    services.task_scoring_set(cluster=sentiment_task, target=0.85)
    assert services.evaluation_create(cluster=sentiment_task, endpoint=endpoint).target == 0.85
    assert services.evaluation_create(cluster=sentiment_task, endpoint=endpoint, target=0.7).target == 0.7


def test_a_text_evaluation_records_the_metric_it_is_scored_with_and_keeps_it(
    text_task: TaskCluster, sentiment_task: TaskCluster, endpoint: ModelEndpoint
) -> None:
    services.task_scoring_set(cluster=text_task, text_metric="judge", text_threshold=0.6, judge_endpoint=endpoint)
    judged = services.evaluation_create(cluster=text_task, endpoint=endpoint)
    services.task_scoring_set(cluster=text_task)  # back to the defaults: cosine at 0.85
    cosine = services.evaluation_create(cluster=text_task, endpoint=endpoint)
    label = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)

    judged.refresh_from_db()
    assert (judged.text_metric, judged.text_threshold, judged.judge_endpoint_id) == ("judge", 0.6, endpoint.id)
    assert (cosine.text_metric, cosine.text_threshold, cosine.judge_endpoint_id) == ("cosine", 0.85, None)
    assert (label.text_metric, label.text_threshold, label.judge_endpoint_id) == ("", None, None)
    assert Evaluation.objects.count() == 3
