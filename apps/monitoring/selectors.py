"""Reads: how much of a project's gateway traffic its specialists took over a period, what that cost, and
what it saved; each figure an aggregate query over the gateway's calls (those whose metadata has a
downshift_route), never a loop over calls in Python.

Money, in USD:
- cost: what the period cost. A call the LLM answered (route llm, escalated or shadow) at its logged cost
  (ingest prices it from ModelPrice); a call a specialist answered at its serving cost, which is the cost
  per 1000 calls of its deployment's approved evaluation / 1000 (the candidate's measured cost, as the
  evaluation report shows it). The specialist's own work on escalated and shadow calls is not added.
- cost_all_llm: the same calls, all on the LLM. A call the LLM answered at its logged cost; a call a
  specialist answered at what the LLM would have charged for it: the ModelPrice of the call's model (its
  exact name, else the longest name it starts with, as ingest prices) for the call's prompt tokens (else
  the task's mean) and the mean completion tokens of the task's calls the LLM answered (those discovery
  placed in the task, a specialist's answers left out: their length is the specialist's). With no price
  for the model, or no tokens, the evaluation's LLM cost per 1000 calls / 1000.
- saved: cost_all_llm - cost, so the LLM's price of the specialist-served calls minus their serving cost.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.calls.models import ROUTE_KEY, Call, CallRoute, ModelPrice
from apps.common.errors import DomainError
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.discovery.selectors import task_cluster_list
from apps.evaluation.models import Evaluation
from apps.evaluation.scoring.stats import Interval, wilson_interval
from apps.projects.models import Project
from apps.serving.models import Deployment, DeploymentMode, DeploymentStatus
from apps.serving.selectors import deployment_list

CENTS = Decimal("0.00000001")  # Call.cost's precision
DAYS_PER_MONTH = 30
REASONS_SHOWN = 10
_UUID = "'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"

# The gateway's calls in [since, until) (the partial index call_project_route_time serves it), each call's
# task and deployment read from its metadata (a value that is not an id is none), then each call priced
# twice: as it was served (cost_now) and as if the LLM had answered it (cost_llm). Postgres skips the CTEs a
# query does not read.
_CTES = f"""
WITH gw AS (
    SELECT c.id, c.timestamp, c.status, c.error, c.latency_ms, c.cost, c.model, c.prompt_tokens,
        c.completion_tokens,
        c.metadata->>'{ROUTE_KEY}' AS route,
        c.metadata->>'downshift_escalation' AS escalation,
        coalesce(c.metadata->'downshift_shadow'->'agree', c.metadata->'downshift_production'->'agree') AS agree,
        CASE WHEN c.metadata->>'downshift_task' ~ {_UUID} THEN (c.metadata->>'downshift_task')::uuid END AS task_id,
        CASE WHEN c.metadata->>'downshift_deployment' ~ {_UUID}
            THEN (c.metadata->>'downshift_deployment')::uuid END AS deployment_id
    FROM {Call._meta.db_table} c
    WHERE c.project_id = %(project)s AND c.metadata ? '{ROUTE_KEY}'
        AND c.timestamp >= %(since)s AND c.timestamp < %(until)s
),
task_tokens AS (
    SELECT c.task_cluster_id AS task_id, avg(c.prompt_tokens) AS prompt, avg(c.completion_tokens) AS completion
    FROM {Call._meta.db_table} c
    WHERE c.project_id = %(project)s
        AND c.task_cluster_id IN (SELECT task_id FROM gw WHERE route = 'specialist')
        AND coalesce(c.metadata->>'{ROUTE_KEY}', '') <> 'specialist'
    GROUP BY c.task_cluster_id
),
priced AS (
    SELECT gw.*,
        CASE WHEN gw.route = 'specialist' THEN coalesce(e.cost_per_1k_calls / 1000, 0)
            ELSE coalesce(gw.cost, 0) END AS cost_now,
        CASE WHEN gw.route = 'specialist' THEN coalesce(
                (coalesce(gw.prompt_tokens, t.prompt) * p.input_per_mtok
                    + coalesce(t.completion, gw.completion_tokens) * p.output_per_mtok) / 1000000,
                e.llm_cost_per_1k_calls / 1000,
                0)
            ELSE coalesce(gw.cost, 0) END AS cost_llm,
        (gw.route = 'specialist' AND e.cost_per_1k_calls IS NULL) OR (gw.route <> 'specialist' AND gw.cost IS NULL)
            AS unpriced
    FROM gw
    LEFT JOIN {Deployment._meta.db_table} d ON d.id = gw.deployment_id AND gw.route = 'specialist'
    LEFT JOIN {Evaluation._meta.db_table} e ON e.id = d.evaluation_id
    LEFT JOIN task_tokens t ON t.task_id = gw.task_id AND gw.route = 'specialist'
    LEFT JOIN LATERAL (
        SELECT mp.input_per_mtok, mp.output_per_mtok FROM {ModelPrice._meta.db_table} mp
        WHERE gw.route = 'specialist' AND starts_with(gw.model, mp.model)
        ORDER BY length(mp.model) DESC LIMIT 1
    ) p ON true
)
"""

_COUNTERS = """
    count(*) AS calls,
    count(*) FILTER (WHERE route = 'specialist') AS specialist_calls,
    count(*) FILTER (WHERE route = 'escalated') AS escalated_calls,
    count(*) FILTER (WHERE route = 'shadow') AS shadow_calls,
    count(*) FILTER (WHERE route = 'llm') AS llm_calls,
    count(*) FILTER (WHERE status = 'error') AS error_calls,
    coalesce(sum(cost_now), 0) AS cost,
    coalesce(sum(cost_llm), 0) AS cost_all_llm,
    count(*) FILTER (WHERE unpriced) AS unpriced_calls,
    count(*) FILTER (WHERE route IN ('shadow', 'specialist') AND agree = 'true'::jsonb) AS shadow_agreed,
    count(*) FILTER (WHERE route IN ('shadow', 'specialist') AND jsonb_typeof(agree) = 'boolean') AS shadow_judged
"""


@dataclass(frozen=True)
class Period:
    """[since, until), aware datetimes."""

    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        return (self.until - self.since) / timedelta(days=1)


@dataclass(frozen=True)
class Counts:
    """The gateway's calls of a period (or of one bucket or task of it), by route, and their money."""

    calls: int = 0
    specialist_calls: int = 0
    escalated_calls: int = 0
    shadow_calls: int = 0
    llm_calls: int = 0
    error_calls: int = 0
    cost: Decimal = Decimal(0)
    cost_all_llm: Decimal = Decimal(0)
    unpriced_calls: int = 0  # an LLM call with no logged cost, a specialist's with no serving cost
    shadow_agreed: int = 0
    shadow_judged: int = 0  # shadow calls and sampled live calls whose agreement was decided (not None)

    @property
    def saved(self) -> Decimal:
        return self.cost_all_llm - self.cost

    @property
    def share_offloaded(self) -> float | None:
        """The specialist-served share of all the gateway's calls."""
        return self.specialist_calls / self.calls if self.calls else None

    @property
    def escalation_rate(self) -> float | None:
        """Of the calls a live specialist answered, those its answer failed for (then the LLM's was sent)."""
        tried = self.specialist_calls + self.escalated_calls
        return self.escalated_calls / tried if tried else None

    @property
    def error_rate(self) -> float | None:
        return self.error_calls / self.calls if self.calls else None

    @property
    def agreement(self) -> Interval | None:
        """Agreement with the LLM of shadow calls and of live calls sampled to the LLM (production agreement),
        with its 95% Wilson interval; None when none was judged."""
        return wilson_interval(self.shadow_agreed, self.shadow_judged) if self.shadow_judged else None


@dataclass(frozen=True)
class Bucket:
    at: datetime  # the hour or day's start, in TIME_ZONE (naive)
    counts: Counts


@dataclass(frozen=True)
class TaskOffload:
    """One task's share of the period: its deployment now (None: LLM only) and its calls."""

    task_id: UUID | None
    task: TaskCluster | None
    deployment: Deployment | None
    counts: Counts

    @property
    def state(self) -> str:
        """LLM only, Shadow at 10%, Live at 100% (and why not serving, when it is not)."""
        deployment = self.deployment
        if deployment is None:
            return "LLM only"
        mode = "Shadow" if deployment.mode == DeploymentMode.SHADOW else "Live"
        state = f"{mode} at {deployment.canary_percent}%"
        if deployment.routes_to_specialist:
            return state
        if deployment.tripped_at is not None:
            why = "its circuit breaker tripped"
        elif deployment.status == DeploymentStatus.SERVING:
            why = "its backend is down"
        else:
            why = deployment.get_status_display().lower()
        return f"{state}, not serving: {why}"

    @property
    def evaluated(self) -> Interval | None:
        """The approved evaluation's agreement and interval (what production is held against)."""
        evaluation = self.deployment.evaluation if self.deployment is not None else None
        if evaluation is None or evaluation.agreement is None:
            return None
        return Interval(evaluation.agreement, evaluation.agreement_low or 0.0, evaluation.agreement_high or 1.0)

    @property
    def agreement_check(self) -> str:
        """How production agreement (the shadow calls') compares with the approved evaluation's interval:
        below, within, above, or "" when either is unknown. Intervals that overlap are within."""
        production, evaluated = self.counts.agreement, self.evaluated
        if production is None or evaluated is None:
            return ""
        if production.high < evaluated.low:
            return "below"
        return "above" if production.low > evaluated.high else "within"


@dataclass(frozen=True)
class Latency:
    route: str
    calls: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Reason:
    reason: str
    calls: int
    rate: float  # escalations: of the calls a live specialist answered; errors: of all calls


@dataclass(frozen=True)
class Offload:
    period: Period
    bucket: str  # hour or day
    totals: Counts
    over_time: list[Bucket]
    by_task: list[TaskOffload]
    latency: list[Latency]
    escalations: list[Reason]
    errors: list[Reason]

    @property
    def saved_per_day(self) -> Decimal:
        return self.totals.saved / Decimal(str(self.period.days)) if self.period.days > 0 else Decimal(0)

    @property
    def saved_per_month(self) -> Decimal:
        """The period's daily saving over 30 days."""
        return self.saved_per_day * DAYS_PER_MONTH


def _rows(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(_CTES + sql, params)
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _counts(row: dict[str, Any]) -> Counts:
    money = {name: Decimal(row[name] or 0).quantize(CENTS) for name in ("cost", "cost_all_llm")}
    return Counts(**(row | money))


def _params(project: Project, period: Period) -> dict[str, Any]:
    return {"project": project.id, "since": period.since, "until": period.until, "tz": settings.TIME_ZONE}


def offload_totals(*, project: Project, period: Period) -> Counts:
    return _counts(_rows(f"SELECT {_COUNTERS} FROM priced", _params(project, period))[0])


def offload_over_time(*, project: Project, period: Period, bucket: str = "day") -> list[Bucket]:
    """The period's calls and money by hour or day (in TIME_ZONE); buckets with no calls are left out."""
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket is hour or day, not {bucket!r}")
    rows = _rows(
        f"SELECT date_trunc(%(bucket)s, timestamp AT TIME ZONE %(tz)s) AS at, {_COUNTERS} "
        "FROM priced GROUP BY 1 ORDER BY 1",
        _params(project, period) | {"bucket": bucket},
    )
    return [Bucket(at=row.pop("at"), counts=_counts(row)) for row in rows]


def offload_by_task(*, project: Project, period: Period) -> list[TaskOffload]:
    """Each task with gateway calls in the period or a deployment now (most calls first, then by task
    number); calls in no task last, as one row with no task."""
    grouped = _rows(f"SELECT task_id, {_COUNTERS} FROM priced GROUP BY task_id", _params(project, period))
    rows = {row.pop("task_id"): _counts(row) for row in grouped}
    deployments = {d.cluster_id: d for d in deployment_list(project=project, active=True)}
    tasks = {t.id: t for t in task_cluster_list(project=project, statuses=tuple(ClusterStatus.values))}
    ids = [uid for uid in {*rows, *deployments} if uid in tasks]
    ids.sort(key=lambda uid: (-rows.get(uid, Counts()).calls, tasks[uid].number))
    found = [TaskOffload(uid, tasks[uid], deployments.get(uid), rows.get(uid, Counts())) for uid in ids]
    unknown = [counts for uid, counts in rows.items() if uid not in tasks]
    if unknown:
        found.append(TaskOffload(None, None, None, _sum(unknown)))
    return found


def _sum(many: Sequence[Counts]) -> Counts:
    return Counts(**{name: sum(getattr(counts, name) for counts in many) for name in Counts.__dataclass_fields__})


def offload_latency(*, project: Project, period: Period) -> list[Latency]:
    """p50 and p95 of the calls' latency (as the gateway measured it: the whole answer) by route."""
    rows = _rows(
        "SELECT route, count(*) AS calls, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms "
        "FROM gw WHERE latency_ms IS NOT NULL AND route = ANY(%(routes)s) GROUP BY route",
        _params(project, period) | {"routes": list(CallRoute.values)},
    )
    order = list(CallRoute.values)
    return sorted((Latency(**row) for row in rows), key=lambda latency: order.index(latency.route))


def offload_reasons(*, project: Project, period: Period, totals: Counts) -> tuple[list[Reason], list[Reason]]:
    """(why calls were escalated, why calls failed), the most frequent first, REASONS_SHOWN of each."""
    params = _params(project, period) | {"limit": REASONS_SHOWN}
    escalated = _rows(
        "SELECT coalesce(nullif(escalation, ''), '(no reason given)') AS reason, count(*) AS calls FROM gw "
        "WHERE route = 'escalated' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %(limit)s",
        params,
    )
    failed = _rows(
        "SELECT coalesce(nullif(error, ''), '(no message)') AS reason, count(*) AS calls FROM gw "
        "WHERE status = 'error' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %(limit)s",
        params,
    )
    tried = totals.specialist_calls + totals.escalated_calls
    return (
        [Reason(r["reason"], r["calls"], r["calls"] / tried) for r in escalated],
        [Reason(r["reason"], r["calls"], r["calls"] / totals.calls) for r in failed],
    )


def offload_get(*, project: Project, period: Period, bucket: str = "day") -> Offload:
    totals = offload_totals(project=project, period=period)
    escalations, errors = offload_reasons(project=project, period=period, totals=totals)
    return Offload(
        period=period,
        bucket=bucket,
        totals=totals,
        over_time=offload_over_time(project=project, period=period, bucket=bucket),
        by_task=offload_by_task(project=project, period=period),
        latency=offload_latency(project=project, period=period),
        escalations=escalations,
        errors=errors,
    )


def gateway_traffic_exists(*, project: Project) -> bool:
    """Whether any call of the project came through the gateway (else the offload page says how to send some)."""
    return Call.objects.filter(project=project, metadata__has_key=ROUTE_KEY).exists()


DEFAULT_DAYS = 7
MAX_DAYS = 366


def period_of(*, since: datetime | None, until: datetime | None, now: datetime) -> Period:
    """[since, until) from what was asked: until defaults to now, since to DEFAULT_DAYS before until; a time
    without a zone is in TIME_ZONE. An empty or reversed period, or one over MAX_DAYS, is a 422."""
    until = _aware(until) if until is not None else now
    since = _aware(since) if since is not None else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise DomainError("since must be before until", code="invalid", status=422, field="until")
    if until - since > timedelta(days=MAX_DAYS):
        raise DomainError(f"The period is at most {MAX_DAYS} days", code="invalid", status=422, field="since")
    return Period(since=since, until=until)


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value)
