"""Telling people that a specialist was pulled back: an e-mail to the project's owners and admins (Django's
mail settings: EMAIL_HOST and friends; without them the mail is written to the log) and, when the project has
one, a JSON POST to its webhook URL. A failure to tell is logged, never raised: the trip stands."""

import logging
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.projects.models import Membership, Role
from apps.serving.models import ServingEvent

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5.0


def _recipients(project_id: Any) -> list[str]:
    members = Membership.objects.filter(project_id=project_id, role__in=[Role.OWNER, Role.ADMIN]).select_related("user")
    return sorted({m.user.email for m in members if m.user.email})


def _page(event: ServingEvent) -> str:
    path = reverse("serving:deployment", kwargs={"slug": event.project.slug, "cluster_id": event.cluster_id})
    return settings.SITE_URL.rstrip("/") + path


def breaker_tripped(event: ServingEvent) -> None:
    """The owners and admins of the event's project told that a breaker tripped, by mail and webhook."""
    event = ServingEvent.objects.select_related("project", "cluster").get(id=event.id)
    task = f"{event.cluster.code} {event.cluster.name}".strip()
    subject = f"[Downshift] {event.project.name}: {task} is back on the LLM"
    body = (
        f"The circuit breaker sent the calls of task {task} back to the LLM.\n\n{event.message}\n\n"
        f"Nothing else changed: the deployment stays, tripped, until a person re-enables it or rolls it back.\n"
        f"{_page(event)}\n"
    )
    recipients = _recipients(event.project_id)
    if recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:
            logger.exception("breaker: the mail about event %s was not sent", event.id)
    url = event.project.webhook_url
    if url:
        payload = {
            "event": event.kind,
            "id": str(event.id),
            "project": event.project.slug,
            "task": str(event.cluster_id),
            "task_name": task,
            "deployment": str(event.deployment_id) if event.deployment_id else None,
            "message": event.message,
            "figures": event.figures,
            "created_at": event.created_at.isoformat(),
            "page": _page(event),
        }
        try:
            response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
            if response.status_code >= 400:
                logger.warning("breaker: the webhook answered HTTP %s for event %s", response.status_code, event.id)
        except httpx.HTTPError as exc:
            logger.warning("breaker: the webhook was not reached for event %s (%s)", event.id, type(exc).__name__)
