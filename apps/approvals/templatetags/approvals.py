"""Each task's swap state as a badge (task lists and pages), and a rollout in words."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.approvals import selectors
from apps.approvals.selectors import TaskSwapState
from apps.discovery.models import TaskCluster

register = template.Library()


@register.simple_tag
def swap_states(items: Iterable[Any]) -> dict[UUID, TaskSwapState]:
    """`{% swap_states rows as states %}`: the state of every task of a list (tasks, or rows holding one
    under "cluster"), in two queries."""
    clusters = [item["cluster"] if isinstance(item, dict) else item for item in items]
    return selectors.swap_state_of(clusters=[c for c in clusters if isinstance(c, TaskCluster)])


@register.simple_tag(takes_context=True)
def swap_badge(
    context: template.Context, cluster: TaskCluster, states: dict[UUID, TaskSwapState] | None = None
) -> SafeString:
    """`{% swap_badge cluster states %}`: the task's swap state, linking to its evaluation report (a task
    on the LLM only, never evaluated, links nowhere)."""
    state = states.get(cluster.id) if states is not None else None
    state = state or selectors.swap_state_get(cluster=cluster)
    if state.state == selectors.SwapState.LLM_ONLY:
        return format_html(
            '<span class="badge swap-badge swap-{}" title="No candidate has been evaluated on this task">{}</span>',
            state.state,
            state.label,
        )
    project = context.get("project")
    url = reverse("evaluation:report", kwargs={"slug": project.slug, "cluster_id": cluster.id}) if project else ""
    return format_html(
        '<a class="badge swap-badge swap-{}" href="{}" title="The task\'s evaluation report and swap decisions">{}</a>',
        state.state,
        url,
        state.label,
    )


@register.filter
def rollout_words(rollout: dict[str, Any] | None) -> str:
    """{"shadow": true, "canary_percent": 10, "escalate_on_invalid": true} -> "Shadow first, then 10% of
    calls; invalid answers escalate to the LLM"."""
    if not rollout:
        return ""
    canary = rollout.get("canary_percent")
    parts = []
    if rollout.get("shadow"):
        parts.append("shadow first" + (f", then {canary}% of calls" if canary else ""))
    elif canary is not None:
        parts.append(f"{canary}% of calls at once")
    parts.append("invalid answers escalate to the LLM" if rollout.get("escalate_on_invalid") else "no escalation")
    words = "; ".join(parts)
    return words[:1].upper() + words[1:]
