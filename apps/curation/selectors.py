from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.calls.models import Call
from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.curation.models import CurationPolicy, RescanJob
from apps.projects.models import Project


def curation_policy_get(*, project: Project) -> CurationPolicy:
    """The project's policy; a project that never saved one gets the defaults (stored on first use)."""
    policy, _ = CurationPolicy.objects.get_or_create(project=project)
    return policy


def stale_call_count(*, project: Project, policy: CurationPolicy) -> int:
    """Calls curated under an older policy version than the current one (due for a re-scan)."""
    return Call.objects.filter(project=project, curation_version__lt=policy.version).count()


@dataclass
class CurationReport:
    days: int
    total_calls: int
    calls_affected: int
    findings: int
    by_type: list[tuple[str, int]]
    top_fields: list[tuple[str, int]]
    over_time: list[tuple[datetime, dict[str, int]]]
    examples: list[Call]
    trainable: int
    excluded: list[tuple[str, int]]


def _sum_json_counts(project: Project, column: str, since: datetime | None = None) -> list[tuple[str, int]]:
    assert column in ("pii_counts", "pii_fields")
    sql = (
        f"SELECT kv.key, sum(kv.value::int) AS n FROM calls_call c, jsonb_each_text(c.{column}) kv"
        " WHERE c.project_id = %s AND c.pii_counts <> '{}'::jsonb"
    )
    params: list[Any] = [project.id]
    if since is not None:
        sql += " AND c.timestamp >= %s"
        params.append(since)
    with connection.cursor() as cursor:
        cursor.execute(sql + " GROUP BY kv.key ORDER BY n DESC, kv.key", params)
        return [(key, int(n)) for key, n in cursor.fetchall()]


def curation_report_get(*, project: Project, days: int = 30) -> CurationReport:
    """What redaction found (by type, over time, by field; never values) and training eligibility."""
    calls = Call.objects.filter(project=project)
    totals = calls.aggregate(
        n=Count("id"), affected=Count("id", filter=~Q(pii_counts={})), trainable=Count("id", filter=Q(trainable=True))
    )
    end = calls.order_by("-timestamp").values_list("timestamp", flat=True).first() or timezone.now()
    start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('day', c.timestamp AT TIME ZONE %s) AS day, kv.key, sum(kv.value::int)"
            " FROM calls_call c, jsonb_each_text(c.pii_counts) kv"
            " WHERE c.project_id = %s AND c.pii_counts <> '{}'::jsonb AND c.timestamp >= %s"
            " GROUP BY 1, 2 ORDER BY 1",
            [timezone.get_current_timezone_name(), project.id, start],
        )
        rows = cursor.fetchall()
    by_day: dict[datetime, dict[str, int]] = {}
    for day, key, n in rows:
        by_day.setdefault(day, {})[key] = int(n)
    days_list = [start.replace(tzinfo=None) + timedelta(days=i) for i in range((end - start).days + 1)]
    over_time = [(day, by_day.get(day, {})) for day in days_list]
    by_type = _sum_json_counts(project, "pii_counts")
    excluded = list(
        calls.filter(trainable=False)
        .values_list("exclusion_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "exclusion_reason")
    )
    examples = list(
        calls.exclude(pii_counts={})
        .only("id", "timestamp", "agent", "model", "preview", "pii_counts", "request")
        .order_by("-timestamp", "-id")[:8]
    )
    return CurationReport(
        days=days,
        total_calls=totals["n"],
        calls_affected=totals["affected"],
        findings=sum(n for _, n in by_type),
        by_type=by_type,
        top_fields=_sum_json_counts(project, "pii_fields")[:10],
        over_time=over_time,
        examples=examples,
        trainable=totals["trainable"],
        excluded=[(reason, n) for reason, n in excluded],
    )


def rescan_job_list(*, project: Project) -> QuerySet[RescanJob]:
    return RescanJob.objects.filter(project=project).select_related("created_by")[:10]


def rescan_job_get(*, project: Project, job_id: Any) -> RescanJob:
    uid = as_uuid(job_id)
    job = RescanJob.objects.filter(project=project, id=uid).first() if uid else None
    if job is None:
        raise NotFound("No such re-scan in this project")
    return job
