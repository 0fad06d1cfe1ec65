"""Task lists and pages show each task's swap state, linking to its evaluation report."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.services import Actor, swap_approval_decide
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from tests.approvals.factories import label_task

pytestmark = pytest.mark.django_db


def test_the_task_list_shows_each_tasks_state(
    login: Callable[[User], Client], viewer: User, owner: User, project: Project, ready: Evaluation
) -> None:
    idle = label_task(project, calls=3)
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    html = login(viewer).get("/p/acme/tasks/").content.decode()
    report = f"/p/acme/tasks/{ready.cluster_id}/evaluation/"
    assert f'<a class="badge swap-badge swap-approved" href="{report}"' in html
    assert '<span class="badge swap-badge swap-llm_only"' in html and f"/tasks/{idle.id}/evaluation/" not in html


def test_the_task_page_shows_its_state_and_links_the_report(
    login: Callable[[User], Client], viewer: User, task: TaskCluster, ready: Evaluation
) -> None:
    html = login(viewer).get(f"/p/acme/tasks/{task.id}/").content.decode()
    assert "swap-evaluated" in html and "Candidate evaluated" in html
    assert f'href="/p/acme/tasks/{task.id}/evaluation/">Evaluation report</a>' in html
