"""An approved candidate (an endpoint, 2 of 40 calls wrong, approved by the owner with the default rollout:
shadow first, a 10% canary) and a client holding a key with the 'approve' and 'read' scopes."""

from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_decide
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.approvals.factories import endpoint, evaluated, label_task


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def ready(task: TaskCluster, project: Project) -> Evaluation:
    evaluation = evaluated(task, endpoint(project), wrong=2)
    assert evaluation.verdict == "ready"
    return evaluation


@pytest.fixture
def approve(owner: User) -> Callable[..., SwapApproval]:
    def decide(evaluation: Evaluation, **rollout: object) -> SwapApproval:
        return swap_approval_decide(
            evaluation=evaluation,
            actor=Actor(user=owner),
            decision="approve",
            comment="Good enough.",
            rollout=rollout or None,
        )

    return decide


@pytest.fixture
def approval(ready: Evaluation, approve: Callable[..., SwapApproval]) -> SwapApproval:
    return approve(ready)


@pytest.fixture
def approver_client(client: Client, project: Project, owner: User) -> Client:
    _, secret = api_key_create(project=project, name="release", scopes=["approve", "read"], created_by=owner)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@pytest.fixture
def routes_subscriber(project: Project) -> Iterator[Callable[[], list[str]]]:
    """A real Redis subscriber on the project's routes channel; call it to read what arrived (waits up to 2 s
    for the first message)."""
    connection = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = connection.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"downshift:routes:{project.id}")
    pubsub.get_message(timeout=1)  # the subscription's confirmation

    def received() -> list[str]:
        messages: list[str] = []
        message = pubsub.get_message(timeout=2)
        while message is not None:
            messages.append(message["data"].decode())
            message = pubsub.get_message(timeout=0.2)
        return messages

    yield received
    pubsub.close()
    connection.close()
