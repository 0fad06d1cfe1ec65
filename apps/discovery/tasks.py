"""Celery tasks for discovery: thin (fetch by id, call one service). Registers the discovery run's job
kind, and assigns newly stored calls to tasks in the background (debounced per project)."""

from typing import Any

from celery import shared_task

from apps.discovery import pipeline, services
from apps.discovery.models import DiscoveryRun
from apps.jobs.registry import JobKind, job_kind_register


@shared_task(name="discovery.run", acks_late=True, reject_on_worker_lost=True)
def discovery_run_execute_task(run_id: str) -> None:
    """One discovery or split run. Results are written in one short transaction at the end, so a run
    that restarts after a lost worker starts over and changes nothing twice."""
    pipeline.discovery_run_execute(run_id=run_id)


@shared_task(name="discovery.assign", acks_late=True, reject_on_worker_lost=True)
def calls_assign_task(project_id: str) -> None:
    """New calls to the current tasks. Idempotent: only calls not assigned yet are looked at."""
    services.calls_assign_all(project_id=project_id)


def calls_stored_receiver(sender: Any, *, project_id: Any, **kwargs: Any) -> None:
    """apps.calls.signals.calls_stored (connected in DiscoveryConfig.ready): assign the new calls soon."""
    if services.assignment_due(project_id=project_id):
        calls_assign_task.apply_async(args=[str(project_id)], countdown=services.ASSIGN_DEBOUNCE_S)


def call_costs_changed_receiver(sender: Any, *, project_ids: list[Any], **kwargs: Any) -> None:
    """apps.calls.signals.call_costs_changed: the tasks' cached cost statistics follow the new prices."""
    for project_id in project_ids:
        services.task_cluster_stats_refresh(project_id=project_id)


job_kind_register(JobKind(model=DiscoveryRun, task=discovery_run_execute_task, resumable=True, label="discovery run"))
