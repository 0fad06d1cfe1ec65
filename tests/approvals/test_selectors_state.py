"""Each task's swap state, derived from its latest records: LLM only, candidate evaluated, approval
requested, approved, revoked."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.approvals.selectors import SwapState, swap_state_get, swap_state_of
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_request, swap_approval_revoke
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.approvals.factories import evaluated, label_task

pytestmark = pytest.mark.django_db


def state(cluster: TaskCluster) -> str:
    return swap_state_get(cluster=cluster).state


def test_a_task_never_evaluated_is_on_the_llm_only(task: TaskCluster, qwen: ModelEndpoint) -> None:
    assert state(task) == SwapState.LLM_ONLY
    evaluated(task, qwen, status=JobStatus.RUNNING)
    assert state(task) == SwapState.LLM_ONLY
    assert swap_state_get(cluster=task).label == "LLM only"


def test_the_states_follow_the_decisions(
    task: TaskCluster, ready: Evaluation, not_ready: Evaluation, engineer: User, owner: User
) -> None:
    assert state(task) == SwapState.EVALUATED
    request = swap_approval_request(evaluation=ready, actor=Actor(user=engineer))
    got = swap_state_get(cluster=task)
    assert (got.state, got.record, got.label) == (SwapState.REQUESTED, request, "Approval requested")
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="reject", comment="Not yet.")
    assert state(task) == SwapState.EVALUATED
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer))
    approval = swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    assert swap_state_get(cluster=task).record == approval and state(task) == SwapState.APPROVED
    # A request for another candidate does not hide the approval in force.
    swap_approval_request(evaluation=not_ready, actor=Actor(user=engineer))
    assert state(task) == SwapState.APPROVED
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift.")
    assert state(task) == SwapState.REQUESTED  # the other candidate's request is still open
    swap_approval_decide(evaluation=not_ready, actor=Actor(user=owner), decision="reject", comment="No.")
    assert state(task) == SwapState.EVALUATED


def test_a_revoked_task_says_so_until_the_next_decision(
    task: TaskCluster, ready: Evaluation, owner: User, engineer: User
) -> None:
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    swap_approval_revoke(evaluation=ready, actor=Actor(user=owner), comment="Drift.")
    assert state(task) == SwapState.REVOKED
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer), comment="Fixed the prompt.")
    assert state(task) == SwapState.REQUESTED


def test_many_tasks_in_two_queries(
    project: Project,
    ready: Evaluation,
    owner: User,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    clusters = [ready.cluster, *(label_task(project, calls=2) for _ in range(3))]
    with django_assert_num_queries(2):
        states = swap_state_of(clusters=clusters)
    assert states[ready.cluster_id].state == SwapState.APPROVED
    assert {states[c.id].state for c in clusters[1:]} == {SwapState.LLM_ONLY}
