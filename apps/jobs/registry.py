"""The job kinds: each app's tasks module registers the job rows it runs, with the task that runs them
and whether a re-run after a lost worker is safe. apps.jobs enqueues and sweeps through this registry,
so it never imports another app's tasks."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from apps.jobs.models import Job


@dataclass(frozen=True)
class JobKind:
    model: type[Job]
    task: Any  # the Celery task that runs one job, given its id
    resumable: bool  # a re-run after a lost worker is safe (it resumes, or redoes idempotent work)
    label: str  # what a person calls one job of this kind, e.g. "re-scan"
    options: Callable[[Any], dict[str, Any]] = lambda job: {}  # apply_async options, e.g. the queue
    on_requeue: dict[str, Any] = field(default_factory=dict)  # more fields to reset when requeued

    def enqueue(self, job: Job) -> None:
        """Send the task after the surrounding transaction commits (Celery's apply_async_on_commit, with
        the task looked up when the commit happens)."""
        args, options = [str(job.id)], self.options(job)
        transaction.on_commit(lambda: self.task.apply_async(args=args, **options))


_KINDS: dict[type[Job], JobKind] = {}


def job_kind_register(kind: JobKind) -> JobKind:
    _KINDS[kind.model] = kind
    return kind


def kinds() -> list[JobKind]:
    return list(_KINDS.values())


def kind_for(model: type[Job]) -> JobKind:
    try:
        return _KINDS[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not a registered job kind (its app's tasks.py registers it)") from None
