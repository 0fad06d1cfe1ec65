"""The offload selectors: the period's gateway calls by route, their cost, their cost all on the LLM and the
saving, in all, by day and by task; latency by route; escalation and error reasons."""

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection

from apps.common.errors import DomainError
from apps.discovery.models import TaskCluster
from apps.monitoring import selectors
from apps.monitoring.selectors import Period
from apps.projects.models import Project
from apps.serving.models import Deployment
from tests.monitoring.conftest import NOW, SERVING_PER_CALL, expected, gateway_calls

WEEK = Period(since=NOW - timedelta(days=7), until=NOW + timedelta(minutes=1))
DAY = Period(since=NOW - timedelta(hours=24), until=NOW + timedelta(minutes=1))


@pytest.fixture(autouse=True)
def _stored(traffic: Callable[[], None]) -> None:
    traffic()


def money(value: object) -> float:
    return pytest.approx(float(value), abs=1e-7)  # type: ignore[arg-type, no-any-return]


@pytest.mark.parametrize("period", [WEEK, DAY], ids=["7 days", "24 hours"])
def test_the_totals_equal_sums_over_the_stored_calls(project: Project, task: TaskCluster, period: Period) -> None:
    totals = selectors.offload_totals(project=project, period=period)
    want = expected(project, task, period.since, period.until)
    assert totals.calls == want["calls"] and totals.specialist_calls == want["specialist_calls"]
    assert (totals.escalated_calls, totals.shadow_calls, totals.llm_calls) == (
        want["escalated_calls"],
        want["shadow_calls"],
        want["llm_calls"],
    )
    assert float(totals.cost) == money(want["cost"])
    assert float(totals.cost_all_llm) == money(want["cost_all_llm"])
    assert float(totals.saved) == money(want["saved"])
    assert totals.share_offloaded == want["specialist_calls"] / want["calls"]


def test_the_period_keeps_only_its_calls(project: Project) -> None:
    week = selectors.offload_totals(project=project, period=WEEK)
    day = selectors.offload_totals(project=project, period=DAY)
    assert (week.calls, week.specialist_calls) == (10, 4)  # the 10-day-old call and the SDK's call left out
    assert (day.calls, day.specialist_calls) == (9, 3)
    assert selectors.offload_totals(
        project=project, period=Period(NOW - timedelta(days=30), NOW - timedelta(days=20))
    ) == (selectors.Counts())


def test_the_saving_is_the_llms_price_of_the_specialists_calls_minus_their_serving_cost(project: Project) -> None:
    totals = selectors.offload_totals(project=project, period=DAY)
    # 800 + 900 + 1000 prompt tokens at 2.50 USD/M, 3 x the task's mean LLM answer (100 tokens) at 10 USD/M.
    llm_price = (2700 * 2.5 + 3 * 100 * 10) / 1e6
    assert float(totals.saved) == money(llm_price - 3 * float(SERVING_PER_CALL))
    assert totals.unpriced_calls == 1  # the failed call has no cost


def test_by_day_adds_up_to_the_totals(project: Project) -> None:
    days = selectors.offload_over_time(project=project, period=WEEK, bucket="day")
    totals = selectors.offload_totals(project=project, period=WEEK)
    assert sum(d.counts.calls for d in days) == totals.calls
    assert sum(d.counts.saved for d in days) == totals.saved
    assert sum(d.counts.shadow_judged for d in days) == 2


def test_by_task_gives_the_state_share_agreement_and_saving(
    project: Project, task: TaskCluster, deployment: Deployment
) -> None:
    rows = selectors.offload_by_task(project=project, period=DAY)
    first, no_task = rows[0], rows[-1]
    assert first.task_id == task.id and first.state == "Live at 100%" and first.deployment == deployment
    assert (first.counts.calls, first.counts.specialist_calls) == (6, 3)
    assert first.counts.share_offloaded == 0.5
    assert first.counts.agreement is not None and first.counts.agreement.estimate == 0.5
    assert first.agreement_check in ("below", "within")  # 1 of 2 is a wide interval
    assert no_task.task is None and no_task.counts.calls == 3 and no_task.state == "LLM only"


def test_latency_percentiles_by_route_match_the_stored_calls(project: Project) -> None:
    latency = {row.route: row for row in selectors.offload_latency(project=project, period=WEEK)}
    calls = gateway_calls(project, WEEK.since, WEEK.until)
    for route, row in latency.items():
        values = list(calls.filter(metadata__downshift_route=route).values_list("latency_ms", flat=True))
        assert row.calls == len(values)
        assert row.p50_ms == pytest.approx(np.percentile(values, 50))
        assert row.p95_ms == pytest.approx(np.percentile(values, 95))
    assert list(latency) == ["llm", "specialist", "escalated", "shadow"]


def test_reasons_are_grouped_with_their_rates(project: Project) -> None:
    totals = selectors.offload_totals(project=project, period=WEEK)
    escalations, errors = selectors.offload_reasons(project=project, period=WEEK, totals=totals)
    assert [(r.reason, r.calls, r.rate) for r in escalations] == [
        ("The answer is not one of the task's labels", 1, 1 / 5)
    ]
    assert [(r.reason, r.calls) for r in errors] == [("upstream answered HTTP 500", 1)]
    assert errors[0].rate == 1 / 10


def test_a_period_not_before_its_end_or_too_long_is_a_422() -> None:
    with pytest.raises(DomainError) as caught:
        selectors.period_of(since=NOW, until=NOW, now=NOW)
    assert caught.value.status == 422 and caught.value.field == "until"
    with pytest.raises(DomainError):
        selectors.period_of(since=NOW - timedelta(days=400), until=None, now=NOW)
    assert selectors.period_of(since=None, until=None, now=NOW) == Period(NOW - timedelta(days=7), NOW)


def test_the_gateway_calls_are_read_through_the_route_index(project: Project) -> None:
    params = {"project": project.id, "since": WEEK.since, "until": WEEK.until}
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + selectors._CTES + "SELECT count(*) FROM gw", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "call_project_route_time" in plan
