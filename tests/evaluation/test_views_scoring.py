"""How a task is scored, set from its evaluation report: the target, and for free text the metric, its
threshold and the judge; the form calls the service the API calls, and refusals are shown by their field."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.evaluation import selectors
from apps.evaluation.models import ModelEndpoint, TaskScoring
from apps.projects.models import Project
from tests.approvals.factories import endpoint, label_task
from tests.evaluation.test_views_evaluate import HX, errors, report
from tests.evaluation.test_views_report import text
from tests.specialists.selection_helpers import make_task

pytestmark = pytest.mark.django_db


def scoring(cluster: TaskCluster) -> str:
    return f"{report(cluster)}scoring/"


def panel(html: str) -> str:
    return html.split('<section id="scoring-panel"')[1].split("</section>")[0]


@pytest.fixture
def text_task(project: Project) -> TaskCluster:
    return make_task(project, output_kind="text", labels=[])


@pytest.fixture
def judge(project: Project) -> ModelEndpoint:
    return endpoint(project, name="big-judge", model="llama-70b")


def test_the_panel_shows_the_defaults_and_a_label_task_has_no_text_settings(
    login: Callable[[User], Client], engineer: User, project: Project
) -> None:
    task = label_task(project)
    html = login(engineer).get(report(task)).content.decode()
    shown = text(panel(html))
    assert "Target agreement" in shown and "0.95" in shown and "(the default)" in shown
    assert 'name="target"' in panel(html)
    assert 'name="text_metric"' not in panel(html)  # label answers are compared exactly


def test_an_engineer_sets_the_judge_for_a_text_task(
    login: Callable[[User], Client], engineer: User, text_task: TaskCluster, judge: ModelEndpoint
) -> None:
    client = login(engineer)
    assert 'name="text_metric"' in panel(client.get(report(text_task)).content.decode())
    response = client.post(
        scoring(text_task),
        {"target": "0.9", "text_metric": "judge", "text_threshold": "0.6", "judge_endpoint": str(judge.id)},
    )
    assert response.status_code == 302
    now = selectors.task_scoring_get(cluster=text_task)
    assert (now.target, now.text_metric, now.text_threshold, now.judge_endpoint) == (0.9, "judge", 0.6, judge)
    shown = text(panel(client.get(report(text_task)).content.decode()))
    assert "judged by big-judge" in shown and "0.90" in shown


def test_a_refused_value_is_shown_by_its_field_with_the_values_kept(
    login: Callable[[User], Client], engineer: User, text_task: TaskCluster
) -> None:
    response = login(engineer).post(scoring(text_task), {"target": "0.9", "text_metric": "judge"}, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "needs a judge endpoint" in errors(html, "scoring-judge")
    assert 'value="0.9"' in panel(html)  # what was sent is kept
    assert not TaskScoring.objects.filter(cluster=text_task).exists()

    response = login(engineer).post(scoring(text_task), {"target": "1.5"})
    assert response.status_code == 422
    assert "above 0 and below 1" in errors(response.content.decode(), "scoring-target")


def test_another_projects_endpoint_cannot_judge(
    login: Callable[[User], Client], engineer: User, text_task: TaskCluster, other_project: Project
) -> None:
    theirs = endpoint(other_project, name="theirs")
    response = login(engineer).post(
        scoring(text_task), {"text_metric": "judge", "judge_endpoint": str(theirs.id)}, **HX
    )
    assert response.status_code == 404
    assert not TaskScoring.objects.filter(cluster=text_task).exists()


def test_viewers_read_the_settings_but_cannot_change_them(
    login: Callable[[User], Client], viewer: User, text_task: TaskCluster
) -> None:
    client = login(viewer)
    html = client.get(report(text_task)).content.decode()
    assert "change how this task is scored" in text(panel(html))
    assert "<form" not in panel(html)
    assert client.post(scoring(text_task), {"target": "0.5"}).status_code == 403
    assert not TaskScoring.objects.filter(cluster=text_task).exists()


def test_another_projects_task_is_not_found(
    login: Callable[[User], Client], outsider: User, text_task: TaskCluster
) -> None:
    assert login(outsider).post(scoring(text_task), {"target": "0.5"}).status_code == 404
