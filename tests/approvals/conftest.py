"""A label task with two candidate endpoints: one ready (2 of 40 calls wrong, target 80%), one not ready
(30 of 40 wrong)."""

import pytest

from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.projects.models import Project
from tests.approvals.factories import endpoint, evaluated, label_task


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def qwen(project: Project) -> ModelEndpoint:
    return endpoint(project)


@pytest.fixture
def ready(task: TaskCluster, qwen: ModelEndpoint) -> Evaluation:
    evaluation = evaluated(task, qwen, wrong=2)
    assert evaluation.verdict == "ready"
    return evaluation


@pytest.fixture
def not_ready(task: TaskCluster, project: Project) -> Evaluation:
    evaluation = evaluated(task, endpoint(project, name="tiny", model="smollm2-135m"), wrong=30)
    assert evaluation.verdict == "not_ready"
    return evaluation
