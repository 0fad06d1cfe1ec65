"""Offload over the API: how much of the gateway's traffic the specialists took in a period, and what it saved."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router

from apps.common.schemas import ErrorOut
from apps.monitoring import selectors
from apps.monitoring.schemas import OffloadFilterIn, OffloadOut, counts_fields, day_fields, task_fields
from apps.projects.auth import ProjectApiKey, require_scope
from apps.projects.models import ApiKeyScope

router = Router(tags=["monitoring"], auth=ProjectApiKey())


@router.get(
    "/offload",
    response={200: OffloadOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Offload, cost and saving over a period",
    description="The gateway's calls in [since, until) by route, the share a specialist answered, what they cost, "
    "what they would have cost all on the LLM, and the saving, in all, by day (in the server's TIME_ZONE) and by "
    "task. Needs a key with the 'read' scope. A date that cannot be read, since not before until, or a period over "
    f"{selectors.MAX_DAYS} days is a 422.",
)
def get_offload(request: HttpRequest, filters: Query[OffloadFilterIn]) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.READ)
    period = selectors.period_of(since=filters.since, until=filters.until, now=timezone.now())
    data = selectors.offload_get(project=key.project, period=period, bucket="day")
    return {
        "since": period.since,
        "until": period.until,
        **counts_fields(data.totals),
        "saved_per_day": data.saved_per_day,
        "saved_per_month": data.saved_per_month,
        "by_day": [day_fields(bucket) for bucket in data.over_time],
        "by_task": [task_fields(row) for row in data.by_task],
    }
