"""Per-task statistics (calls, share, tokens, cost, latency and prompt percentiles, agents, calls per day),
kept on the task rows. Computing them reads every assigned call of the project, so it happens when they
change (a run finishes, new calls are assigned, a merge moves calls), never on a page view or a poll.
Pages and the API read them with the task (TaskCluster.stats)."""

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.models import TaskCluster

SPARK_DAYS = 30


@dataclass
class ClusterStats:
    calls: int = 0
    share: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    prompt_p99: float | None = None
    agents: list[str] = field(default_factory=list)
    per_day: list[tuple[date, int]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_day"] = {day.isoformat(): n for day, n in self.per_day if n}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, today: date | None = None) -> "ClusterStats":
        """The stored numbers; calls per day over the SPARK_DAYS up to today (days stored since are 0)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "per_day"}
        stats = cls(**known)
        daily = data.get("per_day") or {}
        stats.per_day = [(day, int(daily.get(day.isoformat(), 0))) for day in spark_days(today)]
        return stats


def spark_days(today: date | None = None) -> list[date]:
    last = today or timezone.localdate()
    return [last - timedelta(days=SPARK_DAYS - 1 - i) for i in range(SPARK_DAYS)]


def cluster_stats_compute(*, project_id: Any, cluster_ids: list[UUID] | None = None) -> dict[UUID, ClusterStats]:
    """From the calls, now: two grouped queries over the project's assigned calls."""
    total = Call.objects.filter(project_id=project_id).count() or 1
    where = "project_id = %s AND task_cluster_id IS NOT NULL"
    params: list[Any] = [project_id]
    if cluster_ids is not None:
        if not cluster_ids:
            return {}
        where += " AND task_cluster_id = ANY(%s)"
        params.append(cluster_ids)
    stats: dict[UUID, ClusterStats] = {}
    days = spark_days()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_cluster_id, count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
            " coalesce(sum(cost), 0), percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY prompt_tokens),"
            " (array_agg(DISTINCT agent) FILTER (WHERE agent <> ''))[1:10]"
            f" FROM calls_call WHERE {where} GROUP BY task_cluster_id",
            params,
        )
        for cid, n, pt, ct, cost, p50, p95, p99, agents in cursor.fetchall():
            stats[cid] = ClusterStats(n, n / total, int(pt), int(ct), float(cost), p50, p95, p99, agents or [])
        cursor.execute(
            "SELECT task_cluster_id, (timestamp AT TIME ZONE 'UTC')::date AS day, count(*)"
            f" FROM calls_call WHERE {where} AND timestamp >= %s GROUP BY 1, 2",
            [*params, datetime.combine(days[0], datetime.min.time(), tzinfo=timezone.get_current_timezone())],
        )
        daily: dict[UUID, dict[date, int]] = defaultdict(dict)
        for cid, day, n in cursor.fetchall():
            daily[cid][day] = n
    for cid, s in stats.items():
        s.per_day = [(day, daily[cid].get(day, 0)) for day in days]
    return stats


def task_stats_refresh(*, project_id: Any, cluster_ids: list[UUID] | None = None) -> int:
    """Recompute the statistics of the project's tasks (or of `cluster_ids` only, when only their calls
    changed) and store them on the rows; a task without calls gets zeros. New calls change every task's
    share, so assignment and runs refresh them all. Returns the number of tasks updated."""
    computed = cluster_stats_compute(project_id=project_id, cluster_ids=cluster_ids)
    now = timezone.now()
    empty = ClusterStats(per_day=[(day, 0) for day in spark_days()]).as_json()
    tasks = TaskCluster.objects.filter(project_id=project_id).only("id")
    if cluster_ids is not None:
        tasks = tasks.filter(id__in=cluster_ids)
    rows = list(tasks)
    for task in rows:
        task.stats = computed[task.id].as_json() if task.id in computed else empty
        task.stats_at = now
    TaskCluster.objects.bulk_update(rows, ["stats", "stats_at"], batch_size=500)
    return len(rows)
