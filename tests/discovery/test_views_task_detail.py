from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.calls.models import Call
from apps.discovery.models import DiscoveryRun, RunKind, TaskCluster
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.conftest import make_call


def url(cluster: TaskCluster, action: str = "") -> str:
    return f"/p/{cluster.project.slug}/tasks/{cluster.id}/{action + '/' if action else ''}"


def ask(call_id: str, text: str) -> dict[str, Any]:
    return make_call(id=call_id, request={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})


@pytest.fixture
def calls(project: Project, ingest: Callable[..., int]) -> list[Call]:
    ingest([ask(f"c{i}", f"Question number {i}") for i in range(6)])
    return list(Call.objects.filter(project=project).order_by("client_id"))


@pytest.fixture
def task(calls: list[Call], make_cluster: Callable[..., TaskCluster]) -> TaskCluster:
    return make_cluster(
        calls=calls[:4],
        name="Sentiment of reviews",
        description="Says whether a review is happy.",
        representatives=[str(calls[1].id), str(calls[0].id)],
    )


@pytest.fixture
def other(calls: list[Call], make_cluster: Callable[..., TaskCluster]) -> TaskCluster:
    return make_cluster(calls=calls[4:], name="Text to SQL", output_kind="sql", labels=[])


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


def test_shows_what_the_task_is_its_numbers_and_typical_calls(viewer_client: Client, task: TaskCluster) -> None:
    response = viewer_client.get(url(task))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "T1</span> Sentiment of reviews" in html and "Says whether a review is happy." in html
    assert "Label from a closed set" in html and ">positive</span>" in html and ">review</span>" in html
    assert "66.7% of all calls" in html and "4.4k" in html and "p95 420 ms" in html and "support-bot" in html
    assert "Small-model fit" in html and "High volume (4 calls, 67% of traffic)" in html
    assert '<svg class="sparkline"' in html
    # the representatives, in their order, linking to the calls with their previews
    assert html.index("Question number 1") < html.index("Question number 0")
    rep = Call.objects.get(client_id="c1")
    assert f'href="/p/acme/calls/{rep.id}/"' in html
    # a viewer sees no action forms
    assert "<form" not in html.split('<main class="container"')[1] and "Rename or describe" not in html


def test_managers_see_the_actions(engineer_client: Client, task: TaskCluster, other: TaskCluster) -> None:
    html = engineer_client.get(url(task)).content.decode()
    assert f'action="{url(task, "merge")}"' in html and f'<option value="{other.id}">T2 Text to SQL</option>' in html
    assert f'value="{task.id}"' not in html  # not into itself
    assert f'action="{url(task, "split")}"' in html and f'action="{url(task, "keep")}"' in html
    assert f'hx-get="{url(task)}?edit=1"' in html and f'href="{url(task)}?edit=1"' in html


def test_the_edit_form_comes_inline_with_htmx_and_as_a_page_without(engineer_client: Client, task: TaskCluster) -> None:
    fragment = engineer_client.get(f"{url(task)}?edit=1", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="task-head"')
    assert 'name="name"' in fragment and 'value="Sentiment of reviews"' in fragment
    page = engineer_client.get(f"{url(task)}?edit=1").content.decode()
    assert "<html" in page and 'name="name"' in page and f'hx-post="{url(task)}"' in page


def test_viewers_get_no_edit_form_and_cannot_post(viewer_client: Client, task: TaskCluster) -> None:
    assert 'name="name"' not in viewer_client.get(f"{url(task)}?edit=1").content.decode()
    assert viewer_client.post(url(task), {"name": "Mine"}).status_code == 403
    for action in ("merge", "split", "keep"):
        assert viewer_client.post(url(task, action), {"keep": "1"}).status_code == 403
    task.refresh_from_db()
    assert task.name == "Sentiment of reviews" and not task.keep_on_llm


def test_renaming_without_js_saves_and_redirects(engineer_client: Client, task: TaskCluster) -> None:
    response = engineer_client.post(url(task), {"name": "  Review sentiment ", "description": "Happy or not."})
    assert response.status_code == 302 and response["Location"] == url(task)
    task.refresh_from_db()
    assert task.name == "Review sentiment" and task.description == "Happy or not." and task.edited
    assert "T1 saved." in engineer_client.get(url(task)).content.decode()


def test_renaming_with_htmx_swaps_the_head_back(engineer_client: Client, task: TaskCluster) -> None:
    response = engineer_client.post(url(task), {"name": "Review sentiment"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="task-head"')
    assert "Review sentiment" in html and "Saved." in html and 'name="name"' not in html


def test_an_empty_name_is_refused_next_to_the_field(engineer_client: Client, task: TaskCluster) -> None:
    response = engineer_client.post(url(task), {"name": "   "}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 400 and 'class="field has-error"' in html and "A task needs a name." in html
    task.refresh_from_db()
    assert task.name == "Sentiment of reviews" and not task.edited


def test_merging_moves_the_calls_and_goes_to_the_other_task(
    engineer_client: Client, task: TaskCluster, other: TaskCluster
) -> None:
    response = engineer_client.post(url(task, "merge"), {"into": str(other.id)})
    assert response.status_code == 302 and response["Location"] == url(other)
    task.refresh_from_db()
    assert task.status == "merged" and task.merged_into == other
    assert Call.objects.filter(task_cluster=other).count() == 6 and not Call.objects.filter(task_cluster=task).exists()
    html = engineer_client.get(url(task)).content.decode()
    assert "Merged into" in html and f'href="{url(other)}"' in html and f'action="{url(task, "merge")}"' not in html


def test_merging_into_no_task_or_an_inactive_one_is_refused(
    engineer_client: Client, task: TaskCluster, make_cluster: Callable[..., TaskCluster]
) -> None:
    gone = make_cluster(status="retired")
    for into in ("", str(gone.id), str(task.id)):
        response = engineer_client.post(url(task, "merge"), {"into": into})
        assert response.status_code == 400 and 'class="field has-error"' in response.content.decode()
    task.refresh_from_db()
    assert task.status == "active"


def test_merging_a_task_that_is_no_longer_active_shows_the_conflict(
    engineer_client: Client, task: TaskCluster, other: TaskCluster
) -> None:
    TaskCluster.objects.filter(id=task.id).update(status="retired")
    response = engineer_client.post(url(task, "merge"), {"into": str(other.id)})
    assert response.status_code == 409 and "T1 is no longer found, not an active task" in response.content.decode()


def test_splitting_queues_a_split_run_and_goes_to_its_page(
    engineer_client: Client, task: TaskCluster, engineer: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = engineer_client.post(url(task, "split"))
    run = DiscoveryRun.objects.get(project=task.project)
    assert response.status_code == 302 and response["Location"] == f"/p/acme/tasks/runs/{run.id}/"
    assert run.kind == RunKind.SPLIT and run.target == task and run.status == JobStatus.QUEUED
    assert run.created_by == engineer and len(callbacks) == 1
    with mock.patch("apps.discovery.tasks.discovery_run_execute_task.apply_async") as apply_async:
        callbacks[0]()
    apply_async.assert_called_once_with(args=[str(run.id)])
    assert f'href="/p/acme/tasks/runs/{run.id}/"' in engineer_client.get(url(task)).content.decode()


def test_splitting_while_a_run_is_active_shows_the_conflict(
    engineer_client: Client, task: TaskCluster, project: Project
) -> None:
    DiscoveryRun.objects.create(project=project, status=JobStatus.RUNNING)
    response = engineer_client.post(url(task, "split"))
    assert response.status_code == 409 and "A discovery run is already running" in response.content.decode()
    assert DiscoveryRun.objects.filter(project=project).count() == 1


def test_a_split_task_links_to_its_parts(
    viewer_client: Client, task: TaskCluster, make_cluster: Callable[..., TaskCluster]
) -> None:
    TaskCluster.objects.filter(id=task.id).update(status="split")
    part = make_cluster(name="Sentiment: happy", parent=task)
    html = viewer_client.get(url(task)).content.decode()
    assert "Split into" in html and f'href="{url(part)}"' in html and "Sentiment: happy" in html
    assert f'href="{url(task)}"' in viewer_client.get(url(part)).content.decode()  # "split from"


def test_keep_on_llm_toggles_with_and_without_htmx(engineer_client: Client, task: TaskCluster) -> None:
    response = engineer_client.post(url(task, "keep"), {"keep": "1"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="keep-panel"')
    assert "Kept on the LLM." in html and 'name="keep" value="0"' in html
    task.refresh_from_db()
    assert task.keep_on_llm and task.edited
    response = engineer_client.post(url(task, "keep"), {"keep": "0"})
    assert response.status_code == 302 and response["Location"] == url(task)
    task.refresh_from_db()
    assert not task.keep_on_llm
    assert engineer_client.post(url(task, "keep"), {"keep": "maybe"}).status_code == 400


def test_another_projects_task_is_404(
    engineer_client: Client, other_project: Project, make_cluster: Callable[..., TaskCluster]
) -> None:
    theirs = make_cluster(target=other_project)
    path = f"/p/acme/tasks/{theirs.id}/"
    assert engineer_client.get(path).status_code == 404
    assert engineer_client.post(f"{path}keep/", {"keep": "1"}).status_code == 404
    assert engineer_client.get(f"/p/globex/tasks/{theirs.id}/").status_code == 404  # not a member there
    theirs.refresh_from_db()
    assert not theirs.keep_on_llm


def test_wrong_methods_are_405(engineer_client: Client, task: TaskCluster) -> None:
    assert engineer_client.put(url(task)).status_code == 405
    for action in ("merge", "split", "keep"):
        assert engineer_client.get(url(task, action)).status_code == 405


def test_a_task_that_is_no_longer_active_shows_why_it_cannot_be_split(
    engineer_client: Client, task: TaskCluster, other: TaskCluster
) -> None:
    TaskCluster.objects.filter(id=task.id).update(status="merged", merged_into=other)
    html = engineer_client.get(url(task)).content.decode()
    assert f'action="{url(task, "split")}"' not in html and "Small-model fit" not in html
    response = engineer_client.post(url(task, "split"))
    assert response.status_code == 409 and "T1 is merged into another, not an active task" in response.content.decode()
    assert not DiscoveryRun.objects.filter(project=task.project).exists()
