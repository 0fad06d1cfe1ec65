"""Every change to a project's deployments is published, after commit, on downshift:routes:<project id>,
read here by a real Redis subscriber."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor
from apps.common.errors import Conflict
from apps.projects.models import Project
from apps.serving.services import deployment_create, deployment_health_record, deployment_stop, deployment_update

pytestmark = pytest.mark.django_db


def test_create_update_and_stop_are_published_after_commit(
    approval: SwapApproval,
    owner: User,
    project: Project,
    routes_subscriber: Callable[[], list[str]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    actor = Actor(user=owner)
    with django_capture_on_commit_callbacks() as callbacks:
        deployment = deployment_create(approval=approval, actor=actor)
    assert routes_subscriber() == [], "published before the commit"
    for callback in callbacks:
        callback()
    assert routes_subscriber() == [str(project.id)]

    with django_capture_on_commit_callbacks(execute=True):
        deployment_update(deployment=deployment, actor=actor, canary_percent=40)
    assert routes_subscriber() == [str(project.id)]
    with django_capture_on_commit_callbacks(execute=True):
        deployment_stop(deployment=deployment, actor=actor)
    assert routes_subscriber() == [str(project.id)]


def test_refused_changes_and_unchanged_routes_publish_nothing(
    approval: SwapApproval,
    owner: User,
    routes_subscriber: Callable[[], list[str]],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    actor = Actor(user=owner)
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deployment_create(approval=approval, actor=actor)
    assert len(routes_subscriber()) == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Conflict):
            deployment_create(approval=approval, actor=actor)
        deployment_health_record(deployment=deployment, healthy=False, message="still loading")
    assert callbacks == [] and routes_subscriber() == []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deployment_health_record(deployment=deployment, healthy=True)
    assert len(callbacks) == 1 and len(routes_subscriber()) == 1
