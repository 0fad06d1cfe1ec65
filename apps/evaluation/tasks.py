"""Celery tasks for evaluation: thin (fetch by id, call the job body); the job kind is registered here.

Idempotent, hence acks_late with reject_on_worker_lost: a resumed evaluation skips the calls it stored
already. A message delivered twice finds the row claimed (or done) and returns."""

from celery import shared_task

from apps.evaluation import execution
from apps.evaluation.models import Evaluation
from apps.jobs.registry import JobKind, job_kind_register


@shared_task(name="evaluation.run", acks_late=True, reject_on_worker_lost=True)
def evaluation_run_task(evaluation_id: str) -> None:
    """Score one candidate on its task's frozen test split: on the cpu queue for endpoints and classifiers,
    on the gpu queue for local language models (Evaluation.queue)."""
    execution.evaluation_run(evaluation_id=evaluation_id)


job_kind_register(
    JobKind(
        model=Evaluation,
        task=evaluation_run_task,
        resumable=True,
        label="evaluation",
        options=lambda evaluation: {"queue": evaluation.queue},
    )
)
