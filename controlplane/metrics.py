"""GET /metrics: Prometheus's text format, for operators, served by the web (gunicorn) and the gateway (uvicorn,
through Django: a scrape is not on the gateway's fast path).

Two kinds of metrics. Counters and histograms that processes keep (the gateway's calls,
apps/serving/gateway/metrics.py) are written by each process to its own memory-mapped files under
PROMETHEUS_MULTIPROC_DIR (settings.METRICS_DIR), and a scrape, answered by whichever process, adds up every
process's files (prometheus-client's multiprocess mode), so totals are right across workers. Readings of the
database and Redis (queue depths, workers' heartbeats and GPUs, job durations) are read when scraped, with
one query each for workers and jobs and one Redis round trip.

Allowed from METRICS_ALLOW_NETWORKS (the client's own address; default loopback only) or with
`Authorization: Bearer <METRICS_TOKEN>`."""

import hmac
import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path

import redis
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.common.redis_client import redis_client
from apps.fleet.selectors import WorkerStatus, worker_list
from apps.jobs.selectors import job_durations_finished
from controlplane.celery import app as celery_app

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps a queue as one list per priority: the name, then name + "\x06\x16" + 3, 6, 9.
PRIORITY_KEYS = ("", "\x06\x163", "\x06\x166", "\x06\x169")
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, math.inf)
MB = 1024 * 1024
STATUSES = (WorkerStatus.ONLINE, WorkerStatus.DRAINING, WorkerStatus.STALE, WorkerStatus.OFFLINE)
AS_REPORTED = ", as each worker that is not offline last reported it."


def metrics_dir_prepare(path: Path | None = None) -> None:
    """At a server's start: remove the files a previous run left in the metrics folder, when none of the
    processes that wrote them lives (a whole restart, so the counters start again from 0). While one lives
    (a worker restarted beside others, the web beside the gateway), they stay: a dead process's counts remain
    part of the totals, which never go down. This process's own files are never removed."""
    folder = path or settings.METRICS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stale = [f for f in folder.glob("*.db") if _pid(f) != os.getpid()]
    if any(_alive(pid) for pid in {_pid(f) for f in stale}):
        return
    for file in stale:
        file.unlink(missing_ok=True)


def _pid(file: Path) -> int | None:
    tail = file.stem.rsplit("_", 1)[-1]  # counter_123.db, histogram_123.db, gauge_livesum_123.db
    return int(tail) if tail.isdigit() else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Readings(Collector):
    """What the database and Redis say when scraped."""

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        yield from self._workers()
        yield from self._jobs()

    def _queues(self) -> Iterator[Metric]:
        queues = sorted(queue.name for queue in celery_app.conf.task_queues or ())
        try:
            pipe = redis_client().pipeline(transaction=False)
            for queue in queues:
                for suffix in PRIORITY_KEYS:
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("metrics: the queue depths were not read (%s)", type(exc).__name__)
            return
        family = GaugeMetricFamily(
            "downshift_queue_depth", "Celery tasks waiting in each queue (Redis list lengths).", labels=["queue"]
        )
        for index, queue in enumerate(queues):
            family.add_metric([queue], sum(lengths[index * len(PRIORITY_KEYS) : (index + 1) * len(PRIORITY_KEYS)]))
        yield family

    def _workers(self) -> Iterator[Metric]:
        try:
            rows = worker_list()
        except DatabaseError as exc:
            logger.warning("metrics: the workers were not read (%s)", type(exc).__name__)
            return
        statuses = GaugeMetricFamily("downshift_workers", "Registered Celery workers by status.", labels=["status"])
        counts = dict.fromkeys(STATUSES, 0)
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        for status, count in counts.items():
            statuses.add_metric([status], count)
        yield statuses
        ages = GaugeMetricFamily(
            "downshift_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat (workers that stopped cleanly are left out).",
            labels=["worker"],
        )
        gpu = ["worker", "gpu"]
        used = GaugeMetricFamily("downshift_gpu_memory_used_bytes", f"GPU memory in use{AS_REPORTED}", labels=gpu)
        total = GaugeMetricFamily("downshift_gpu_memory_total_bytes", f"GPU memory{AS_REPORTED}", labels=gpu)
        utilization = GaugeMetricFamily("downshift_gpu_utilization_ratio", f"GPU use, 0 to 1{AS_REPORTED}", labels=gpu)
        for row in rows:
            name = row.worker.name
            if row.heartbeat_age_s is not None:
                ages.add_metric([name], row.heartbeat_age_s)
            if row.status == WorkerStatus.OFFLINE:
                continue
            for reading in row.worker.gpus:
                if not isinstance(reading, dict):
                    continue
                index = str(reading.get("index", ""))
                used.add_metric([name, index], int(reading.get("memory_used_mb") or 0) * MB)
                total.add_metric([name, index], int(reading.get("memory_total_mb") or 0) * MB)
                if isinstance(reading.get("utilization"), int | float):
                    utilization.add_metric([name, index], reading["utilization"] / 100)
        yield from (ages, used, total, utilization)

    def _jobs(self) -> Iterator[Metric]:
        since = timezone.now() - timedelta(seconds=settings.METRICS_JOB_WINDOW_S)
        try:
            durations = job_durations_finished(since=since)
        except DatabaseError as exc:
            logger.warning("metrics: the job durations were not read (%s)", type(exc).__name__)
            return
        grouped: dict[tuple[str, str], list[float]] = defaultdict(list)
        for kind, status, seconds in durations:
            grouped[(kind, status)].append(seconds)
        family = HistogramMetricFamily(
            "downshift_job_duration_seconds",
            f"Start to finish of the jobs that finished in the last {settings.METRICS_JOB_WINDOW_S} s "
            "(METRICS_JOB_WINDOW_S), by kind and final status: a window read when scraped, so use it without rate().",
            labels=["kind", "status"],
        )
        for (kind, status), values in sorted(grouped.items()):
            buckets = [(_le(bound), float(sum(1 for v in values if v <= bound))) for bound in JOB_BUCKETS]
            family.add_metric([kind, status], buckets, sum(values))
        yield family


def _le(bound: float) -> str:
    return "+Inf" if bound == math.inf else str(float(bound))


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(secret.strip().encode(), token.encode()):
        return True
    try:
        address = ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOW_NETWORKS)


def _refused() -> HttpResponse:
    if settings.METRICS_TOKEN:
        response = HttpResponse("Give the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    else:
        response = HttpResponse("Metrics are served to METRICS_ALLOW_NETWORKS, or with a METRICS_TOKEN.\n", status=403)
    response["Content-Type"] = "text/plain"
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return _refused()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    registry.register(Readings())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    if isinstance(request, ASGIRequest):  # under uvicorn a sync view runs in a thread of its request's own:
        connection.close()  # its connection would linger, never reused
    return response
