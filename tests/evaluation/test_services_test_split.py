"""A task's frozen test split: chosen once by a hash of the call ids (or taken from its first dataset's
test split), capped, and the same for every candidate afterwards."""

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import Evaluation, ModelEndpoint, TaskTestSplit
from apps.projects.models import Project
from apps.specialists.models import Split
from tests.evaluation.conftest import TASK_CALLS, run, task_calls
from tests.evaluation.fake_openai import Oracle
from tests.specialists.selection_helpers import build, stored

pytestmark = pytest.mark.django_db


def test_about_a_fifth_of_the_trainable_calls_chosen_by_a_hash_of_their_ids(sentiment_task: TaskCluster) -> None:
    split = services.test_split_freeze(cluster=sentiment_task)
    ids = split.call_ids
    assert len(ids) == TASK_CALLS // 5 and len(set(ids)) == len(ids)
    assert set(ids) <= {str(c.id) for c in task_calls(sentiment_task)}
    assert split.test_hash == hashlib.sha256("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()
    assert split.dataset is None

    TaskTestSplit.objects.all().delete()
    assert services.test_split_freeze(cluster=sentiment_task).call_ids == ids  # the same calls decide the same


def test_excluded_calls_are_never_test_calls(sentiment_task: TaskCluster, settings: Any) -> None:
    settings.EVALUATION_TEST_FRACTION = 1.0
    excluded = task_calls(sentiment_task)[:3]
    Call.objects.filter(id__in=[c.id for c in excluded]).update(trainable=False, exclusion_reason="truncated")
    ids = services.test_split_freeze(cluster=sentiment_task).call_ids
    assert len(ids) == TASK_CALLS - 3 and not {str(c.id) for c in excluded} & set(ids)


def test_the_split_is_capped(sentiment_task: TaskCluster, settings: Any) -> None:
    settings.EVALUATION_TEST_FRACTION = 1.0
    settings.EVALUATION_TEST_CALLS = 7
    assert len(services.test_split_freeze(cluster=sentiment_task).call_ids) == 7


def test_once_chosen_it_stays_as_calls_arrive_and_every_candidate_is_scored_on_it(
    project: Project,
    sentiment_task: TaskCluster,
    sample_records: list[dict[str, Any]],
    endpoint: ModelEndpoint,
    oracle: Callable[..., Oracle],
) -> None:
    first = services.test_split_freeze(cluster=sentiment_task)
    later = [r for r in sample_records if r["task"] == "sentiment_classification"][TASK_CALLS : TASK_CALLS + 40]
    Call.objects.filter(id__in=[c.id for c in stored(project, later)]).update(task_cluster=sentiment_task)
    again = services.test_split_freeze(cluster=sentiment_task)
    assert (again.id, again.call_ids, again.test_hash) == (first.id, first.call_ids, first.test_hash)

    oracle(sentiment_task)
    one = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    other = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint, target=0.9))
    assert one.status == other.status == "succeeded"
    assert one.test_hash == other.test_hash == first.test_hash
    assert one.test_calls == other.test_calls == len(first.call_ids)
    assert set(one.results.values_list("call_id", flat=True)) == {uuid.UUID(i) for i in first.call_ids}


def test_a_task_with_a_built_dataset_is_tested_on_that_datasets_test_split(sentiment_task: TaskCluster) -> None:
    dataset = build(sentiment_task, None, kind="classifier", test_fraction=0.3)
    split = services.test_split_freeze(cluster=sentiment_task)
    dataset_test = {str(i) for i in dataset.examples.filter(split=Split.TEST).values_list("call_id", flat=True)}
    assert dataset_test and set(split.call_ids) == dataset_test
    assert split.dataset == dataset


def test_an_evaluation_records_the_hash_of_the_calls_it_scored(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, oracle: Callable[..., Oracle]
) -> None:
    oracle(sentiment_task)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    scored = sorted(str(i) for i in evaluation.results.values_list("call_id", flat=True))
    assert evaluation.test_hash == hashlib.sha256("".join(f"{i}\n" for i in scored).encode()).hexdigest()
    assert Evaluation.objects.get(id=evaluation.id).test_calls == len(scored)
