"""The product owner's journey, in real Chromium: open a task's evaluation report from the task, compare
the candidates, read the disagreements, approve one with a comment and a rollout; the audit shows it. Then
start the evaluation of another candidate from the report, and cancel it while it waits for a worker."""

from typing import Any

import pytest

from apps.approvals.models import SwapApproval
from apps.evaluation.models import Evaluation
from apps.projects.models import Role
from apps.projects.services import membership_set, project_create
from tests.approvals.factories import endpoint, evaluated, label_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_owner_compares_candidates_reads_disagreements_and_approves(
    live_server: Any, page: Any, make_user: Any
) -> None:
    project = project_create(slug="acme", name="Acme agents")
    membership_set(project=project, user=make_user("olivia"), role=Role.OWNER)
    task = label_task(project, calls=40)
    ready = evaluated(task, endpoint(project), wrong=3)
    weak = evaluated(task, endpoint(project, name="tiny", model="smollm2-135m"), wrong=14)
    fresh = endpoint(project, name="fresh", model="phi-4-mini")

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # The task says where it stands, and leads to its report.
    page.goto(f"{live_server.url}/p/acme/tasks/{task.id}/")
    assert "Candidate evaluated" in page.inner_text(".task-badges")
    page.click("text=Evaluation report")
    page.wait_for_url(f"**/tasks/{task.id}/evaluation/")
    assert "Ready to take over from the LLM" in page.inner_text("#report")
    assert "37 of 40 test calls" in page.inner_text(".verdict")

    # Compare: the leaderboard ranks both; open the weaker one (htmx swaps the report, the URL follows).
    assert page.locator("svg.leaderboard a").count() == 2
    page.click(".leaderboard-table >> text=tiny")
    page.wait_for_selector("text=Not ready: it disagrees with the LLM too often")
    assert f"candidate={weak.id}" in page.url

    # Read its disagreements, two pages of them.
    assert page.locator("#viewer article.pair.is-different").count() == 10
    assert "Disagreements (14)" in page.inner_text("#viewer .segmented")
    page.click("#viewer >> text=Next")
    page.wait_for_selector("#viewer >> text=Page 2 of 2")
    assert page.locator("#viewer article.pair.is-different").count() == 4
    assert "the llm (reference)" in page.inner_text("#viewer").lower()

    # Back to the ready one through the picker, and approve it.
    page.select_option("#candidate-choice", str(ready.id))
    page.wait_for_selector("text=Ready to take over from the LLM")
    page.fill("#approval-panel textarea[name=comment]", "Read the 3 misses: borderline reviews. Shadow first.")
    page.fill("#approval-panel input[name=canary_percent]", "20")
    page.click("#approval-panel button[value=approve]")
    page.wait_for_selector("#approval-panel >> text=is approved to replace the LLM on this task")
    assert "Approved" in page.inner_text("#approval-panel .card-head")
    record = SwapApproval.objects.get()
    assert (record.decision, record.who, record.evaluation_id) == ("approve", "olivia", ready.id)
    assert record.rollout == {"shadow": True, "canary_percent": 20, "escalate_on_invalid": True}

    # The audit, from the project menu, shows the decision.
    page.click("nav[aria-label=Project] >> text=Approvals")
    page.wait_for_url("**/p/acme/approvals/")
    row = page.inner_text("table.audit tbody tr")
    for expected in ("olivia", "Approved", "qwen-small", "92.5%", "Read the 3 misses", "then 20% of calls"):
        assert expected in row, expected

    # Back on the report, evaluate another candidate; it waits for a worker, and is cancelled from the page.
    page.goto(f"{live_server.url}/p/acme/tasks/{task.id}/evaluation/")
    page.click(".page-head >> text=Evaluate a candidate")
    assert "Not evaluated on this task yet" in page.inner_text(f"label[for='candidate-endpoint{fresh.id}']")
    page.check(f"#evaluate-panel input[value='endpoint:{fresh.id}']")
    page.fill("#evaluate-target", "0.9")
    page.click("#evaluate-panel >> text=Start the evaluation")
    page.wait_for_selector("#evaluate-panel >> text=fresh is queued")
    assert (
        "fresh" in page.inner_text("#evaluation-jobs")
        and page.locator("#evaluation-jobs [role=progressbar]").count() == 1
    )
    started = Evaluation.objects.get(endpoint=fresh)
    assert (started.status, started.target, started.created_by.username) == ("queued", 0.9, "olivia")
    page.click("#evaluation-jobs >> text=Cancel")
    page.wait_for_selector("text=1 evaluation that did not finish")
    started.refresh_from_db()
    assert started.status == "cancelled"
