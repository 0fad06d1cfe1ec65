"""The circuit breaker: a live specialist whose calls go wrong is sent back to the LLM by itself.

Every BREAKER_CHECK_S (Celery beat) each live deployment that routes to its specialist is read from its
stored calls (the gateway's log, drained into ingest every few seconds: the rows are the truth):
- its escalation rate over the last BREAKER_WINDOW_S: escalated over specialist-answered plus escalated,
  once at least BREAKER_MIN_CALLS calls are in the window; above BREAKER_MAX_ESCALATION_RATE it trips;
- its production agreement over the last BREAKER_AGREEMENT_WINDOW_S: the sampled calls the LLM also
  answered (downshift_production), once at least BREAKER_MIN_SAMPLES are in; when the whole 95% interval
  is below the target its evaluation was approved against, it trips.
A trip marks the deployment (tripped_at, tripped_reason: its calls go to the LLM; the gateway is told on
downshift:routes:<project>), records an event with the figures, and tells the project's owners and admins by
e-mail and its webhook. Only a person re-enables it (interventions.deployment_reenable)."""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.calls.models import Call
from apps.evaluation.scoring.stats import wilson_interval
from apps.serving import notify
from apps.serving.models import Deployment, DeploymentMode, DeploymentStatus, EventKind, ServingEvent
from apps.serving.services import deployments_changed

logger = logging.getLogger(__name__)

BREAKER = "circuit breaker"


@dataclass(frozen=True)
class Window:
    """A live deployment's recent calls, as the breaker reads them."""

    window_s: float
    specialist: int
    escalated: int
    escalation_rate: float | None  # None: fewer than BREAKER_MIN_CALLS calls in the window
    agreement_window_s: float
    sampled: int
    agreed: int
    agreement_low: float | None  # the 95% interval of production agreement; None: too few samples
    agreement_high: float | None
    target: float


def _counts(deployment: Deployment, not_before: datetime | None) -> dict[str, int]:
    """One pass over the deployment's calls since the earlier of the two windows' starts: its answers over
    BREAKER_WINDOW_S and its sampled agreement over BREAKER_AGREEMENT_WINDOW_S (neither before `not_before`)."""
    now = timezone.now()
    recent, longer = (
        max(now - timedelta(seconds=seconds), not_before) if not_before else now - timedelta(seconds=seconds)
        for seconds in (settings.BREAKER_WINDOW_S, settings.BREAKER_AGREEMENT_WINDOW_S)
    )
    calls = Call.objects.filter(
        project_id=deployment.project_id,
        timestamp__gte=min(recent, longer),
        metadata__downshift_deployment=str(deployment.id),
    )
    in_recent, in_longer = Q(timestamp__gte=recent), Q(timestamp__gte=longer)
    return calls.aggregate(
        specialist=Count("id", filter=in_recent & Q(metadata__downshift_route="specialist")),
        escalated=Count("id", filter=in_recent & Q(metadata__downshift_route="escalated")),
        sampled=Count("id", filter=in_longer & Q(metadata__downshift_production__agree__in=[True, False])),
        agreed=Count("id", filter=in_longer & Q(metadata__downshift_production__agree=True)),
    )


def deployment_window(deployment: Deployment) -> Window:
    """The figures the breaker decides on (also shown on the deployment page). After a person re-enabled the
    deployment, only calls from then on count."""
    reenabled = (
        ServingEvent.objects.filter(deployment=deployment, kind=EventKind.REENABLED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    counts = _counts(deployment, reenabled)
    answered = counts["specialist"] + counts["escalated"]
    rate = counts["escalated"] / answered if answered >= settings.BREAKER_MIN_CALLS else None
    low = high = None
    if counts["sampled"] >= settings.BREAKER_MIN_SAMPLES:
        interval = wilson_interval(counts["agreed"], counts["sampled"])
        low, high = interval.low, interval.high
    return Window(
        window_s=settings.BREAKER_WINDOW_S,
        specialist=counts["specialist"],
        escalated=counts["escalated"],
        escalation_rate=rate,
        agreement_window_s=settings.BREAKER_AGREEMENT_WINDOW_S,
        sampled=counts["sampled"],
        agreed=counts["agreed"],
        agreement_low=low,
        agreement_high=high,
        target=deployment.evaluation.target,
    )


def trip_reason(window: Window) -> str:
    """Why these figures trip the breaker, or "" when they do not."""
    if window.escalation_rate is not None and window.escalation_rate > settings.BREAKER_MAX_ESCALATION_RATE:
        return (
            f"{window.escalated} of {window.specialist + window.escalated} calls "
            f"({window.escalation_rate:.0%}) escalated in the last {window.window_s / 60:g} min, above the "
            f"{settings.BREAKER_MAX_ESCALATION_RATE:.0%} limit"
        )
    if window.agreement_high is not None and window.agreement_high < window.target:
        assert window.agreement_low is not None
        return (
            f"production agreement {window.agreed}/{window.sampled} = {window.agreed / window.sampled:.0%} "
            f"[{window.agreement_low:.2f}, {window.agreement_high:.2f}] over the last "
            f"{window.agreement_window_s / 3600:g} h is below the approved target {window.target:.0%}"
        )
    return ""


@transaction.atomic
def deployment_trip(*, deployment: Deployment, reason: str, figures: dict[str, Any]) -> ServingEvent | None:
    """Send a live deployment's calls back to the LLM, saying why; None when it was tripped or stopped
    meanwhile. The owners are told after commit."""
    deployment = Deployment.objects.select_for_update().select_related("project", "cluster").get(id=deployment.id)
    if deployment.tripped_at is not None or deployment.status == DeploymentStatus.STOPPED:
        return None
    deployment.tripped_at = timezone.now()
    deployment.tripped_reason = reason[:500]
    deployment.save(update_fields=["tripped_at", "tripped_reason", "updated_at"])
    event = ServingEvent.objects.create(
        project_id=deployment.project_id,
        cluster_id=deployment.cluster_id,
        deployment=deployment,
        kind=EventKind.BREAKER_TRIPPED,
        message=f"Its calls went back to the LLM: {reason}.",
        figures=figures,
        who=BREAKER,
    )
    deployments_changed(project_id=deployment.project_id)
    transaction.on_commit(lambda: notify.breaker_tripped(event), robust=True)
    return event


def deployments_breaker_check() -> int:
    """Celery beat, every BREAKER_CHECK_S: every live deployment that routes to its specialist checked, and
    tripped when its figures say so. Returns how many tripped."""
    tripped = 0
    live = Deployment.objects.filter(
        mode=DeploymentMode.LIVE, status=DeploymentStatus.SERVING, healthy=True, tripped_at=None
    ).select_related("evaluation")
    for deployment in live:
        window = deployment_window(deployment)
        reason = trip_reason(window)
        if reason and deployment_trip(deployment=deployment, reason=reason, figures=asdict(window)) is not None:
            logger.warning("breaker: deployment %s tripped: %s", deployment.id, reason)
            tripped += 1
    return tripped
