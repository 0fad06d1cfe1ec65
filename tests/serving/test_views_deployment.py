"""The task's deployment page: owners and admins start, change and stop a deployment with forms (with and
without htmx); other roles see it read-only; a task with no approval in force says what is needed."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_stop
from tests.approvals.factories import label_task

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def page(task: TaskCluster, tail: str = "") -> str:
    return f"/p/{task.project.slug}/tasks/{task.id}/deployment/{tail}"


def test_owner_starts_in_shadow_switches_to_live_at_half_and_stops(
    login: Callable[[User], Client], owner: User, task: TaskCluster, approval: SwapApproval
) -> None:
    client = login(owner)
    shown = client.get(page(task))
    assert shown.status_code == 200
    body = shown.content.decode()
    assert "is approved for this task and not deployed" in body
    assert 'value="shadow" selected' in body and 'value="10"' in body  # the rollout approved

    started = client.post(page(task, "start/"), {"mode": "shadow", "canary_percent": "10"})
    assert started.status_code == 302 and started["Location"] == page(task)
    deployment = Deployment.objects.get(cluster=task)
    assert (deployment.mode, deployment.canary_percent, deployment.status) == ("shadow", 10, "starting")
    assert deployment.who == owner.username and deployment.created_by == owner
    body = client.get(page(task)).content.decode()
    assert "Switch to live at 10%" in body and "Not checked yet." in body

    changed = client.post(page(task, f"{deployment.id}/change/"), {"mode": "live", "canary_percent": "50"}, **HTMX)
    assert changed.status_code == 200
    assert changed.content.decode().lstrip().startswith('<section id="deployment-panel"')
    assert "Now live at 50%" in changed.content.decode()
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.canary_percent) == ("live", 50)

    stopped = client.post(page(task, f"{deployment.id}/stop/"))
    assert stopped.status_code == 302
    deployment.refresh_from_db()
    assert deployment.status == "stopped" and deployment.stopped_at is not None
    body = client.get(page(task)).content.decode()
    assert "Past deployments" in body and "is approved for this task and not deployed" in body


def test_switch_to_live_keeps_the_canary(
    login: Callable[[User], Client], owner: User, task: TaskCluster, approval: SwapApproval
) -> None:
    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="shadow", canary_percent=30)
    response = login(owner).post(page(task, f"{deployment.id}/change/"), {"mode": "live"}, **HTMX)
    assert response.status_code == 200
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.canary_percent) == ("live", 30)


def test_errors_are_shown_by_their_field(
    login: Callable[[User], Client], owner: User, task: TaskCluster, approval: SwapApproval
) -> None:
    client = login(owner)
    refused = client.post(page(task, "start/"), {"mode": "live", "canary_percent": "0"})
    assert refused.status_code == 422
    body = refused.content.decode()
    assert "<h1>Deployment of" in body  # the whole page, without htmx
    assert "has-error" in body and "answers no call" in body
    assert not Deployment.objects.exists()

    bad = client.post(page(task, "start/"), {"mode": "loud", "canary_percent": "101"}, **HTMX)
    assert bad.status_code == 400
    assert bad.content.decode().lstrip().startswith('<section id="deployment-panel"')
    assert bad.content.decode().count('class="errorlist"') == 2

    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="shadow", canary_percent=0)
    live = client.post(page(task, f"{deployment.id}/change/"), {"mode": "live"}, **HTMX)
    assert live.status_code == 422 and "answers no call" in live.content.decode()
    empty = client.post(page(task, f"{deployment.id}/change/"), {"mode": "", "canary_percent": ""}, **HTMX)
    assert empty.status_code == 400
    assert "Give a mode, a canary share or a production check share." in empty.content.decode()
    again = client.post(page(task, "start/"), {"mode": "shadow", "canary_percent": "5"}, **HTMX)
    assert again.status_code == 409 and "has a deployment already" in again.content.decode()
    assert Deployment.objects.filter(cluster=task).count() == 1


@pytest.mark.parametrize("role", ["engineer", "viewer"])
def test_other_roles_see_it_read_only_and_may_not_post(
    request: pytest.FixtureRequest,
    login: Callable[[User], Client],
    owner: User,
    task: TaskCluster,
    approval: SwapApproval,
    role: str,
) -> None:
    client = login(request.getfixturevalue(role))
    body = client.get(page(task)).content.decode()
    assert "Only owners and admins of the project start, change or stop a deployment" in body
    assert "start/" not in body
    assert client.post(page(task, "start/"), {"mode": "shadow", "canary_percent": "10"}).status_code == 403
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    body = client.get(page(task)).content.decode()
    assert "Only owners and admins" in body and "/stop/" not in body and "Shadow" in body
    assert client.post(page(task, f"{deployment.id}/change/"), {"mode": "live"}).status_code == 403
    assert client.post(page(task, f"{deployment.id}/stop/")).status_code == 403
    deployment.refresh_from_db()
    assert (deployment.mode, deployment.status) == ("shadow", "starting")


def test_another_projects_task_and_deployment_are_404(
    login: Callable[[User], Client],
    owner: User,
    outsider: User,
    task: TaskCluster,
    approval: SwapApproval,
    other_project: Project,
) -> None:
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    outside = login(outsider)
    assert outside.get(page(task)).status_code == 404
    assert outside.post(page(task, f"{deployment.id}/stop/")).status_code == 404
    other_task = label_task(other_project)
    client = login(owner)
    assert client.get(f"/p/{task.project.slug}/tasks/{other_task.id}/deployment/").status_code == 404
    # A deployment reached through another task of the project is not found either.
    second = label_task(task.project)
    assert client.post(page(second, f"{deployment.id}/stop/")).status_code == 404
    deployment.refresh_from_db()
    assert deployment.status == "starting"


def test_a_task_with_no_approval_says_to_approve_a_candidate_first(
    login: Callable[[User], Client], owner: User, task: TaskCluster
) -> None:
    response = login(owner).get(page(task))
    assert response.status_code == 200
    body = response.content.decode()
    assert "No candidate is approved for this task" in body
    assert f'href="/p/{task.project.slug}/tasks/{task.id}/evaluation/"' in body
    refused = login(owner).post(page(task, "start/"), {"mode": "shadow", "canary_percent": "10"})
    assert refused.status_code == 409 and "approve one on its evaluation report first" in refused.content.decode()


def test_wrong_method_is_405(login: Callable[[User], Client], owner: User, task: TaskCluster) -> None:
    client = login(owner)
    assert client.get(page(task, "start/")).status_code == 405
    assert client.post(page(task)).status_code == 405


def test_task_list_and_task_page_show_the_deployment(
    login: Callable[[User], Client], owner: User, task: TaskCluster, approval: SwapApproval
) -> None:
    client = login(owner)
    tasks_url = f"/p/{task.project.slug}/tasks/"
    assert ">Approved<" in client.get(tasks_url).content.decode()
    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="shadow", canary_percent=10)
    body = client.get(tasks_url).content.decode()
    assert ">Shadow<" in body and ">Approved<" not in body
    assert f'href="{page(task)}"' in body
    deployment_stop(deployment=deployment, actor=Actor(user=owner))
    deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=25)
    assert ">Live at 25%<" in client.get(tasks_url).content.decode()
    assert ">Live at 25%<" in client.get(f"/p/{task.project.slug}/tasks/{task.id}/").content.decode()


def test_a_tripped_deployment_says_why_is_re_enabled_and_rolled_back_from_the_page(
    login: Callable[[User], Client], owner: User, task: TaskCluster, approval: SwapApproval
) -> None:
    from apps.serving.breaker import deployment_trip

    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=40)
    deployment_trip(deployment=deployment, reason="6 of 8 calls (75%) escalated", figures={"escalated": 6})
    client = login(owner)
    body = client.get(page(task)).content.decode()
    assert "Tripped" in body and "6 of 8 calls (75%) escalated" in body and "Re-enable" in body
    assert "Circuit breaker tripped" in body  # the event

    reenabled = client.post(page(task, f"{deployment.id}/reenable/"), **HTMX)
    assert reenabled.status_code == 200 and "Re-enabled" in reenabled.content.decode()
    deployment.refresh_from_db()
    assert deployment.tripped_at is None

    changed = client.post(page(task, f"{deployment.id}/change/"), {"production_sample_percent": "20"})
    assert changed.status_code == 302
    deployment.refresh_from_db()
    assert deployment.production_sample_percent == 20

    rolled = client.post(page(task, f"{deployment.id}/rollback/"), {"to": "llm", "comment": "Too many refunds."})
    assert rolled.status_code == 302
    deployment.refresh_from_db()
    assert deployment.status == "stopped"
    body = client.get(page(task)).content.decode()
    assert "Rolled back" in body and "Too many refunds." in body
    assert "No candidate is approved for this task" in body  # revoked: back on the LLM
