"""A deployed task's state as a badge (task lists and the task page): "Shadow" or "Live at N%"."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.discovery.models import TaskCluster
from apps.serving import selectors
from apps.serving.models import Deployment, DeploymentMode

register = template.Library()


@register.simple_tag
def deployment_states(items: Iterable[Any]) -> dict[UUID, Deployment]:
    """`{% deployment_states rows as deployed %}`: the deployment of every task of a list (tasks, or rows
    holding one under "cluster") that has one, in one query."""
    clusters = [item["cluster"] if isinstance(item, dict) else item for item in items]
    return selectors.deployment_of_tasks(clusters=[c for c in clusters if isinstance(c, TaskCluster)])


def deployment_words(deployment: Deployment) -> str:
    return "Shadow" if deployment.mode == DeploymentMode.SHADOW else f"Live at {deployment.canary_percent}%"


@register.simple_tag(takes_context=True)
def deployment_badge(
    context: template.Context, cluster: TaskCluster, deployed: dict[UUID, Deployment] | None = None
) -> SafeString:
    """`{% deployment_badge cluster deployed %}`: the task's deployment, linking to its deployment page; empty
    for a task that is not deployed."""
    if deployed is None:
        deployed = selectors.deployment_of_tasks(clusters=[cluster])
    deployment = deployed.get(cluster.id)
    project = context.get("project")
    if deployment is None or project is None:
        return SafeString("")
    url = reverse("serving:deployment", kwargs={"slug": project.slug, "cluster_id": cluster.id})
    title = f"{deployment.get_status_display()}: the task's deployment"
    if not deployment.routes_to_specialist:
        title += " (not serving: its calls go to the LLM)"
    return format_html(
        '<a class="badge swap-badge deploy-badge deploy-{}" href="{}" title="{}">{}</a>',
        deployment.mode,
        url,
        title,
        deployment_words(deployment),
    )
