"""Celery tasks for specialists."""

import socket
from typing import Any

from celery import shared_task

from apps.specialists import training


@shared_task(name="specialists.train", bind=True, acks_late=True)
def training_run_execute_task(self: Any, run_id: str, waits: int = 0) -> None:
    """One training run. A re-delivered message finds the run claimed or done and returns; one delivered
    after its worker died resumes the run from its last checkpoint."""
    training.training_run_execute(run_id=run_id, worker_name=self.request.hostname or socket.gethostname(), waits=waits)
