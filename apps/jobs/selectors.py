"""Reads across every job kind."""

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import CharField, F, Value
from django.db.models.functions import Extract

from apps.jobs import registry
from apps.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from apps.projects.models import Project


def job_running_on(*, worker: str) -> tuple[str, Job] | None:
    """The job a Celery worker (its node name) runs now, of any kind, with its kind's label; None when idle."""
    found: list[tuple[str, Job]] = []
    for kind in registry.kinds():
        job = (
            kind.model._default_manager.filter(status=JobStatus.RUNNING, worker__startswith=f"{worker}:")
            .order_by("-started_at")
            .first()
        )
        if job is not None:
            found.append((kind.label, job))
    return max(found, key=lambda item: item[1].started_at or item[1].created_at) if found else None


@dataclass(frozen=True)
class ProjectJob:
    kind: str  # the kind's label, e.g. "training run"
    job: Job

    @property
    def node(self) -> str:
        """The Celery worker (its node name, e.g. celery@gpu-1) that ran or runs the job; "" before one took it."""
        return self.job.worker.split(":", 1)[0]


def _has_project(model: type[Job]) -> bool:
    return any(f.name == "project" for f in model._meta.get_fields())


def project_job_list(*, project: Project, limit: int = 50) -> list[ProjectJob]:
    """A project's newest jobs of every kind, newest first: what its members see of the workers' work (the fleet
    itself is the installation's, for staff)."""
    kinds = [kind for kind in registry.kinds() if _has_project(kind.model)]  # re-pricing is the installation's
    found = [
        ProjectJob(kind.label, job)
        for kind in kinds
        for job in kind.model._default_manager.filter(project=project)
        .select_related("created_by")
        .order_by("-created_at")[:limit]
    ]
    found.sort(key=lambda item: item.job.created_at, reverse=True)
    return found[:limit]


def job_durations_finished(*, since: datetime) -> list[tuple[str, str, float]]:
    """(kind, status, seconds from start to finish) of each job of every kind that finished since `since`, in
    one query. The kind is the job model's name (e.g. trainingrun): every process knows it, registered or not."""
    models = [model for model in apps.get_models() if issubclass(model, Job)]
    querysets = [
        model._default_manager.filter(status__in=TERMINAL_STATUSES, finished_at__gte=since, started_at__isnull=False)
        .order_by()
        .annotate(
            job_kind=Value(model._meta.model_name, output_field=CharField()),
            seconds=Extract(F("finished_at") - F("started_at"), "epoch"),
        )
        .values_list("job_kind", "status", "seconds")
        for model in models
    ]
    if not querysets:
        return []
    return [(kind, status, float(seconds)) for kind, status, seconds in querysets[0].union(*querysets[1:], all=True)]
