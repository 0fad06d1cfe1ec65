"""The task's evaluation report: the verdict in words, the leaderboard, the kind's metrics and failure
groups, the test calls side by side (disagreements first, in pages), latency, cost and the saving."""

import re
from collections.abc import Callable
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.evaluation.scoring import summarise
from apps.evaluation.scoring.judge import score_judged
from apps.evaluation.scoring.stats import wilson_interval
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from tests.approvals.factories import endpoint, evaluated, label_task
from tests.specialists.selection_helpers import make_task

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def qwen(project: Project) -> ModelEndpoint:
    return endpoint(project)


@pytest.fixture
def ready(task: TaskCluster, qwen: ModelEndpoint) -> Evaluation:
    return evaluated(task, qwen, wrong=2)


@pytest.fixture
def not_ready(task: TaskCluster, project: Project) -> Evaluation:
    return evaluated(task, endpoint(project, name="tiny", model="smollm2-135m"), wrong=30)


def url(cluster: TaskCluster, query: str = "") -> str:
    return f"/p/{cluster.project.slug}/tasks/{cluster.id}/evaluation/{query}"


def text(html: str) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return unescape(re.sub(r" ([.,:;)])", r"\1", words))


def test_the_report_says_the_verdict_in_words(
    login: Callable[[User], Client], viewer: User, ready: Evaluation, not_ready: Evaluation
) -> None:
    response = login(viewer).get(url(ready.cluster))
    assert response.status_code == 200
    words = text(response.content.decode())
    assert "Ready to take over from the LLM" in words
    assert "It gave the same answer as the LLM on 38 of 40 test calls: 95.0% agreement" in words
    assert f"between {ready.agreement_low * 100:.1f}% and {ready.agreement_high * 100:.1f}%" in words
    assert "The target is 80%: even the low end of that range clears it" in words


def test_the_leaderboard_compares_every_candidate(
    login: Callable[[User], Client], viewer: User, ready: Evaluation, not_ready: Evaluation
) -> None:
    html = login(viewer).get(url(ready.cluster)).content.decode()
    chart = html.split('<svg class="chart leaderboard"')[1].split("</svg>")[0]
    assert chart.index("qwen-small") < chart.index("tiny")  # ranked by the low end of the interval
    assert chart.count('class="leader-bar leader-ready"') == 1 and chart.count("leader-not_ready") == 1
    assert chart.count('class="leader-whisker"') == 6 and "target 80%" in chart
    assert f'href="{url(ready.cluster)}?candidate={not_ready.id}"' in chart
    table = text(html.split('class="table leaderboard-table"')[1].split("</table>")[0])
    assert "qwen-small" in table and "tiny" in table and "25.0%" in table and "Not ready" in table


def test_the_candidate_shown_can_be_chosen(
    login: Callable[[User], Client], viewer: User, ready: Evaluation, not_ready: Evaluation
) -> None:
    client = login(viewer)
    words = text(client.get(url(ready.cluster, f"?candidate={not_ready.id}")).content.decode())
    assert "Not ready: it disagrees with the LLM too often" in words and "10 of 40 test calls" in words
    fragment = client.get(url(ready.cluster, f"?candidate={not_ready.id}"), HTTP_HX_TARGET="report", **HX)
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="report"') and "<html" not in html and "10 of 40" in html


def test_the_kinds_metrics_and_failure_groups(login: Callable[[User], Client], viewer: User, ready: Evaluation) -> None:
    html = login(viewer).get(url(ready.cluster)).content.decode()
    words = text(html)
    assert "How it answers: label from a closed set" in words and "95.0% Accuracy" in words and "Macro-F1" in words
    confusion = text(html.split('class="table confusion"')[1].split("</table>")[0])
    assert "positive" in confusion and "negative" in confusion
    groups = text(html.split('class="failure-groups"')[1].split("</ul>")[0])
    assert "wrong label negative->positive 1 (2%)" in groups and "wrong label positive->negative 1 (2%)" in groups


def test_the_viewer_shows_the_disagreements_side_by_side(
    login: Callable[[User], Client], viewer: User, ready: Evaluation
) -> None:
    html = login(viewer).get(url(ready.cluster)).content.decode()
    viewer_html = html.split('<section id="viewer"')[1].split("</section>")[0]
    assert viewer_html.count('<article class="pair is-different">') == 2 and "Same answer" not in viewer_html
    assert "The LLM (reference)" in viewer_html and viewer_html.count('<pre class="answer">') == 4
    assert "Review 0 of product" in viewer_html and "wrong label negative-&gt;positive" in viewer_html


def test_the_viewer_pages_through_every_call_with_htmx(
    login: Callable[[User], Client], viewer: User, ready: Evaluation
) -> None:
    client = login(viewer)
    first = client.get(url(ready.cluster, f"?candidate={ready.id}&show=all"), HTTP_HX_TARGET="viewer", **HX)
    html = first.content.decode()
    assert html.lstrip().startswith('<section id="viewer"') and "<html" not in html
    assert html.count('<article class="pair') == 10 and "Page 1 of 4" in html and "Same answer" in html
    second = client.get(url(ready.cluster, f"?candidate={ready.id}&show=all&page=4"), HTTP_HX_TARGET="viewer", **HX)
    assert "Page 4 of 4" in second.content.decode() and "Next" not in text(second.content.decode())


def test_the_viewer_keeps_one_failure_group(login: Callable[[User], Client], viewer: User, ready: Evaluation) -> None:
    group = "wrong label positive->negative"
    html = login(viewer).get(url(ready.cluster), {"candidate": ready.id, "group": group}).content.decode()
    viewer_html = html.split('<section id="viewer"')[1].split("</section>")[0]
    assert viewer_html.count('<article class="pair is-different">') == 1 and "Show every disagreement" in viewer_html


def test_latency_cost_and_the_projected_saving(
    login: Callable[[User], Client], viewer: User, ready: Evaluation
) -> None:
    words = text(login(viewer).get(url(ready.cluster)).content.decode())
    # 40 calls in the last 30 days x ($3.50 - $0.10) per 1,000 calls = $0.136 a month.
    assert "$0.136 a month" in words
    assert "40 calls in the last 30 days \u00d7 ($3.50 on the LLM \u2212 $0.100 on the candidate) per 1,000" in words
    assert "Latency p50 120 ms 420 ms" in words and "3.5x faster at the median; 3% of the LLM's cost" in words


def test_an_unpriced_candidate_has_no_saving(
    login: Callable[[User], Client], viewer: User, task: TaskCluster, qwen: ModelEndpoint
) -> None:
    evaluated(task, qwen, cost=None)
    assert "the candidate has no price" in login(viewer).get(url(task)).content.decode()


def test_a_task_with_no_evaluation_says_how_to_start_one(
    login: Callable[[User], Client], viewer: User, task: TaskCluster
) -> None:
    html = login(viewer).get(url(task)).content.decode()
    assert "No candidate evaluated on this task yet" in html and "/api/v1/evaluations" in html


def test_an_evaluation_that_failed_says_why(
    login: Callable[[User], Client], viewer: User, ready: Evaluation, project: Project
) -> None:
    failed = evaluated(ready.cluster, endpoint(project, name="broken"), status=JobStatus.FAILED)
    Evaluation.objects.filter(id=failed.id).update(error="The endpoint answered 401: check its API key.")
    client = login(viewer)
    words = text(client.get(url(ready.cluster)).content.decode())
    assert "1 evaluation that did not finish" in words and "broken" in words and "answered 401" in words
    words = text(client.get(url(ready.cluster, f"?candidate={failed.id}")).content.decode())
    assert "broken: this evaluation failed. The endpoint answered 401: check its API key." in words
    assert "A decision can be taken once this candidate's evaluation has finished." in words


def test_running_evaluations_are_polled_until_they_end(
    login: Callable[[User], Client], viewer: User, task: TaskCluster, qwen: ModelEndpoint
) -> None:
    client = login(viewer)
    running = evaluated(task, qwen, status=JobStatus.RUNNING)
    html = client.get(url(task)).content.decode()
    assert 'id="evaluation-jobs"' in html and 'hx-trigger="every 2s"' in html and "40%" in html
    assert f'href="{url(task)}?candidate={running.id}">qwen-small</a>' in html
    poll = client.get(url(task), HTTP_HX_TARGET="evaluation-jobs", **HX)
    assert poll.content.decode().lstrip().startswith('<section id="evaluation-jobs"')
    Evaluation.objects.filter(id=running.id).update(status=JobStatus.SUCCEEDED)
    done = client.get(url(task), HTTP_HX_TARGET="evaluation-jobs", **HX)
    assert done["HX-Refresh"] == "true"


def test_the_approval_panel_asks_an_owner_for_a_reason_only_when_not_ready(
    login: Callable[[User], Client], owner: User, ready: Evaluation, not_ready: Evaluation
) -> None:
    client = login(owner)
    html = client.get(url(ready.cluster, f"?candidate={ready.id}")).content.decode()
    assert 'value="approve"' in html and 'value="reject"' in html and 'name="reason_not_ready"' not in html
    assert 'name="shadow"' in html and 'name="canary_percent"' in html and 'name="escalate_on_invalid"' in html
    html = client.get(url(ready.cluster, f"?candidate={not_ready.id}")).content.decode()
    assert 'name="reason_not_ready"' in html and "This candidate is not ready" in html


def test_an_engineer_is_offered_a_request_and_a_viewer_nothing(
    login: Callable[[User], Client], engineer: User, viewer: User, ready: Evaluation
) -> None:
    html = login(engineer).get(url(ready.cluster)).content.decode()
    assert 'value="request"' in html and 'value="approve"' not in html
    html = login(viewer).get(url(ready.cluster)).content.decode()
    assert 'name="decision"' not in html and "Your role can read the report" in html


def test_another_projects_task_is_404(login: Callable[[User], Client], viewer: User, other_project: Project) -> None:
    theirs = label_task(other_project, calls=2)
    assert login(viewer).get(url(theirs).replace(other_project.slug, "acme")).status_code == 404


def test_an_outsider_gets_404_and_anonymous_logs_in(
    client: Client, login: Callable[[User], Client], outsider: User, task: TaskCluster
) -> None:
    response = client.get(url(task))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert login(outsider).get(url(task)).status_code == 404


def test_post_is_405(login: Callable[[User], Client], owner: User, task: TaskCluster) -> None:
    assert login(owner).post(url(task)).status_code == 405


def test_a_free_text_report_names_its_metric_and_threshold_and_the_judges_mean_score(
    login: Callable[[User], Client], viewer: User, project: Project, qwen: ModelEndpoint
) -> None:
    task = make_task(project, output_kind="text", labels=[])
    scores = [score_judged(answer) for answer in ('{"score": 5}', '{"score": 4}', '{"score": 3}', "?")]
    interval = wilson_interval(2, 4)
    Evaluation.objects.create(
        project=project, cluster=task, endpoint=qwen, kind="text", target=0.9, status=JobStatus.SUCCEEDED,
        stage="done", progress=1.0, text_metric="judge", text_threshold=0.8, judge_endpoint=qwen, test_calls=4,
        calls_done=4, agreed=2, agreement=interval.estimate, agreement_low=interval.low,
        agreement_high=interval.high, verdict="not_ready", metrics=summarise("text", scores),
    )  # fmt: skip
    html = login(viewer).get(url(task)).content.decode()
    words = text(html)
    assert "LLM judge (rubric score out of 5), threshold 0.8" in words
    # The interval drawn with classes (the Content-Security-Policy allows no style attribute).
    low, high = round(interval.low * 100), round(interval.high * 100)
    assert f'<div class="interval-range l-{low} w-{high - low}"></div>' in html and 0 < low < high < 100
    assert '<div class="interval-point l-50"></div>' in html and '<div class="interval-target l-90">' in html
    assert "4.00 Mean judge score" in words and "0.80 Mean similarity" in words
    assert "1 Judge answers with no readable score" in words
