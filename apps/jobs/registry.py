"""The job kinds: each app's tasks module registers the job rows it runs, with the task that runs them
and whether a re-run after a lost worker is safe. apps.jobs enqueues and sweeps through this registry,
so it never imports another app's tasks.

A job's message lives in the broker (Redis), its row in Postgres. When a job's task is sent, a marker is set
beside the message in Redis (downshift:jobs:sent:<id>). A send that fails (Redis down) leaves no marker, and a
Redis that restarts without its data loses the marker with the message: either way the sweep finds a queued
job with no marker and sends it again (services.jobs_sweep). A message sent twice is harmless: the first
delivery claims the job by compare-and-set, the second finds it taken and does nothing."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.db import transaction
from kombu.exceptions import OperationalError

from apps.common.redis_client import redis_client
from apps.jobs.models import Job

logger = logging.getLogger(__name__)

SENT_PREFIX = "downshift:jobs:sent:"
SENT_TTL_S = 24 * 3600  # a job queued longer than this is sent again once a day: harmless, and nothing leaks


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
        transaction.on_commit(lambda: self._send(args, options))

    def _send(self, args: list[str], options: dict[str, Any]) -> None:
        """Send the task and mark it sent; with the broker down, log it and leave it to the sweep (the job
        row is created and committed either way, so the request that made it does not fail)."""
        try:
            self.task.apply_async(args=args, **options)
            redis_client().set(f"{SENT_PREFIX}{args[0]}", 1, ex=SENT_TTL_S)
        except (OperationalError, redis.RedisError, OSError) as exc:
            logger.warning("%s %s not sent (%s); the sweep sends it when the broker answers", self.label, args[0], exc)


def sent_marked(job_ids: list[str]) -> list[bool]:
    """Whether each job's task is marked sent (its message should be in the broker)."""
    pipe = redis_client().pipeline(transaction=False)
    for job_id in job_ids:
        pipe.exists(f"{SENT_PREFIX}{job_id}")
    return [bool(found) for found in pipe.execute()]


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
