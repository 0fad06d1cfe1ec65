"""A product owner's discovery journey in real Chromium: one click finds the tasks of the loaded
calls (a real Celery worker runs the job), the map shows them, a rename and a merge stick, and
calls uploaded afterwards land in the right task on their own."""

import re
import time
from collections import Counter
from typing import Any

import pytest

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.discovery.models import TaskCluster
from apps.projects.models import Role
from apps.projects.services import membership_set, project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TASKS = ("sentiment_classification", "text_to_sql", "ticket_triage_json", "math_word_problem")


def _pick(records: list[dict[str, Any]], skip: int, n: int) -> list[dict[str, Any]]:
    return [r for task in TASKS for r in [x for x in records if x["task"] == task][skip : skip + n]]


def test_find_tasks_map_rename_merge_and_new_calls_land(
    live_server: Any, worker: Any, page: Any, make_user: Any, sample_records: list[dict[str, Any]]
) -> None:
    project = project_create(slug="acme", name="Acme agents")
    membership_set(project=project, user=make_user("olive"), role=Role.OWNER)
    task_of = {r["id"]: r["task"] for r in sample_records}
    calls_ingest(project=project, batch=Batch(records=list(enumerate(_pick(sample_records, 0, 50)))))

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olive")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/p/acme/tasks/")
    page.click("text=Find tasks")
    page.wait_for_url(re.compile(r".*/tasks/runs/[0-9a-f-]+/$"))
    page.wait_for_selector("#run-status .badge-succeeded", timeout=180_000)
    tasks = list(TaskCluster.objects.filter(project=project, status="active"))
    assert len(tasks) == 4
    for task in tasks:  # each found task is one true task
        truth = Counter(task_of[c] for c in Call.objects.filter(task_cluster=task).values_list("client_id", flat=True))
        assert truth.most_common(1)[0][1] >= 48, truth

    page.goto(f"{live_server.url}/p/acme/tasks/")
    listed = page.inner_text("main")
    assert all(t.name in listed for t in tasks)
    page.goto(f"{live_server.url}/p/acme/tasks/map/")
    assert page.locator("svg circle").count() >= 200
    page.locator("svg a").last.click()  # a point (the one drawn on top) opens its call
    page.wait_for_url(re.compile(r".*/calls/[0-9a-f-]+/$"))

    sql = next(t for t in tasks if t.output_kind == "sql")
    page.goto(f"{live_server.url}/p/acme/tasks/{sql.id}/")
    page.click("text=Rename or describe")
    page.fill("input[name=name]", "Course questions to SQL")
    page.click("#task-head button[type=submit]")
    page.wait_for_selector("h1:has-text('Course questions to SQL')")
    sql.refresh_from_db()
    assert sql.name == "Course questions to SQL" and sql.edited

    sentiment = next(t for t in tasks if t.output_kind == "label")
    page.goto(f"{live_server.url}/p/acme/tasks/{sentiment.id}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.select_option("#merge-panel select", str(sql.id))
    page.click("#merge-panel button[type=submit]")
    page.wait_for_url(f"**/tasks/{sql.id}/")
    assert Call.objects.filter(task_cluster=sql).count() == 100

    # New uploads land in their tasks: the worker assigns them in the background.
    new = _pick(sample_records, 50, 3)
    calls_ingest(project=project, batch=Batch(records=list(enumerate(new))))
    deadline = time.monotonic() + 90
    while Call.objects.filter(project=project, cluster_assigned_at=None).exists() and time.monotonic() < deadline:
        time.sleep(1)
    triage = next(t for t in tasks if t.output_kind == "json")
    for call in Call.objects.filter(project=project, client_id__in=[r["id"] for r in new]):
        if task_of[call.client_id] == "ticket_triage_json":
            assert call.task_cluster_id == triage.id
        elif task_of[call.client_id] in ("text_to_sql", "sentiment_classification"):
            assert call.task_cluster_id == sql.id  # the merged task takes both
    newest = Call.objects.select_related("task_cluster").get(client_id=new[-1]["id"])
    assert newest.task_cluster is not None
    page.goto(f"{live_server.url}/p/acme/calls/{newest.id}/")
    assert f"{newest.task_cluster.code} {newest.task_cluster.name}" in page.inner_text(".fact-task")
