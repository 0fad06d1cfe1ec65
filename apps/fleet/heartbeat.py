"""A Celery worker's side of the fleet, connected to Celery's signals (apps/fleet/tasks.py imports this
module, and every worker imports that at start).

- worker_ready (sent once in the worker's main process, for solo and prefork pools alike, when it starts
  consuming): upsert the GpuWorker row and start the heartbeat thread.
- The heartbeat thread, every JOB_HEARTBEAT_S: fresh GPU readings, the training run it runs, the model
  weights it has (apps.specialists.selectors.catalog_weights_here) and heartbeat_at; then the admins'
  decisions read back from the row and applied to this worker through Celery's remote control addressed
  to its own node (cancel_consumer / add_consumer for draining, pool_grow / pool_shrink for concurrency,
  where the pool can resize). A dead worker's job is the jobs sweep's business (apps.jobs).
- worker_shutdown: stop the thread and mark the row stopped (its heartbeat set to STOPPED_AT). The row is
  kept, so a drained worker comes back drained; a worker that died simply stops heartbeating.
"""

import logging
import socket
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection

from apps.fleet import services
from apps.fleet.gpu import gpu_snapshot
from apps.fleet.models import GpuWorker
from apps.specialists import selectors as specialists

logger = logging.getLogger(__name__)


class Heartbeat:
    """What this worker is and what it has applied so far; beat() brings it in line with its row."""

    def __init__(
        self,
        *,
        app: Celery,
        name: str,
        queues: list[str],
        concurrency: int,
        can_resize: bool,
        cuda_in_process: bool = False,
    ) -> None:
        self.app = app
        self.name = name
        self.host = socket.gethostname()
        self.queues = queues
        self.concurrency = concurrency  # the pool's size as applied
        self.can_resize = can_resize
        self.cuda_in_process = cuda_in_process
        self.draining = False  # a worker starts consuming its queues
        self._unapplied_concurrency: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_consumer(cls, consumer: Any) -> "Heartbeat":
        """From the Consumer that worker_ready sends: its node name, queues and pool."""
        pool = consumer.pool
        controller = getattr(consumer, "controller", None)
        autoscaler = getattr(controller, "autoscaler", None)
        pool_module = type(pool).__module__
        return cls(
            app=consumer.app,
            name=consumer.hostname,
            queues=sorted(consumer.app.amqp.queues.consume_from),
            concurrency=max(1, int(pool.num_processes or 1)),
            can_resize=callable(getattr(pool, "grow", None)) and autoscaler is None,
            # Tasks of a solo or threads pool run in this process, which touches CUDA anyway.
            cuda_in_process=pool_module.endswith((".solo", ".thread")),
        )

    def register(self) -> GpuWorker:
        return services.worker_register(
            name=self.name,
            host=self.host,
            queues=self.queues,
            gpus=gpu_snapshot(allow_cuda_init=self.cuda_in_process),
            concurrency=self.concurrency,
            can_resize=self.can_resize,
            weights=specialists.catalog_weights_here(),
        )

    def beat(self) -> None:
        worker = services.worker_heartbeat(
            name=self.name,
            gpus=gpu_snapshot(allow_cuda_init=self.cuda_in_process),
            current_job=specialists.training_run_running_on(worker_name=self.name),
            weights=specialists.catalog_weights_here(),
        )
        if worker is None:
            worker = self.register()
        self.apply(worker)

    def apply(self, worker: GpuWorker) -> None:
        """Make this worker do what its row says: consume or not, and run `concurrency` jobs at once."""
        control = self.app.control
        destination = [self.name]
        if worker.draining != self.draining:
            for queue in self.queues:
                if worker.draining:
                    control.cancel_consumer(queue, destination=destination)
                else:
                    control.add_consumer(queue, destination=destination)
            self.draining = worker.draining
            logger.info("GPU worker %s %s", self.name, "draining" if worker.draining else "consuming again")
        if worker.concurrency == self.concurrency:
            return
        if self.can_resize:
            change = worker.concurrency - self.concurrency
            if change > 0:
                control.pool_grow(change, destination=destination)
            else:
                control.pool_shrink(-change, destination=destination)
            self.concurrency = worker.concurrency
            logger.info("GPU worker %s now runs %d job(s) at once", self.name, self.concurrency)
        elif worker.concurrency != self._unapplied_concurrency:
            self._unapplied_concurrency = worker.concurrency
            logger.warning(
                "GPU worker %s: its pool cannot resize; concurrency %d is recorded for a start with a prefork pool",
                self.name,
                worker.concurrency,
            )

    def run(self) -> None:
        try:
            while True:
                close_old_connections()  # this thread's connection may have broken between beats
                try:
                    self.beat()
                except Exception:
                    logger.exception("GPU worker %s: heartbeat failed", self.name)
                if self._stopping.wait(settings.JOB_HEARTBEAT_S):
                    return
        finally:
            connection.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="fleet-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        services.worker_stop(name=self.name)


_current: Heartbeat | None = None


@worker_ready.connect
def on_worker_ready(sender: Any, **_: Any) -> None:
    global _current
    heartbeat = Heartbeat.from_consumer(sender)
    try:
        heartbeat.register()
    except Exception:  # the heartbeat thread registers it once the database answers
        logger.exception("GPU worker %s: registration failed", heartbeat.name)
    heartbeat.start()
    _current = heartbeat


@worker_shutdown.connect
def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    global _current
    if _current is None:
        return
    try:
        _current.stop()
    except Exception:  # the database may be gone already; the sweep will notice the silence
        logger.exception("GPU worker %s: could not record the stop", _current.name)
    _current = None
