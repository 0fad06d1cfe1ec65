"""GET /metrics: Prometheus's text format, from loopback or with the token; counters added up over every
process's files; queue depths, workers' heartbeats and GPUs, and job durations read when scraped."""

import os
import subprocess
import sys
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.discovery.models import DiscoveryRun
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from controlplane.metrics import metrics_dir_prepare
from tests.common.metrics_scrape import Samples, parse, value

pytestmark = pytest.mark.django_db


def scrape(client: Client, **extra: Any) -> Samples:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def test_a_scrape_from_loopback_parses_as_prometheus_text(client: Client) -> None:
    samples = scrape(client)
    assert ("downshift_queue_depth", (("queue", "cpu"),)) in samples
    assert ("downshift_queue_depth", (("queue", "gpu"),)) in samples


def test_another_address_is_refused_without_a_token(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403


def test_the_token_lets_any_address_in(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-token"
    far = {"REMOTE_ADDR": "203.0.113.7"}
    refused = client.get("/metrics", **far)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **far).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **far).status_code == 200


def test_an_allowed_network_needs_no_token(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOW_NETWORKS = [ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401


def test_only_get_is_allowed(client: Client) -> None:
    assert client.post("/metrics").status_code == 405


def test_counts_of_another_process_are_added_up(client: Client) -> None:
    """A second process (a gunicorn or uvicorn worker) counting into the same folder."""
    code = (
        "from prometheus_client import Counter\n"
        "c = Counter('downshift_gateway_requests', 'x', ['project', 'task', 'route'])\n"
        "c.labels('other-process', 'none', 'llm').inc(3)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(settings.METRICS_DIR)}
    labels = {"project": "other-process", "task": "none", "route": "llm"}
    before = value(scrape(client), "downshift_gateway_requests_total", **labels)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    after = value(scrape(client), "downshift_gateway_requests_total", **labels)
    assert after == before + 3


def test_queue_depth_counts_every_priority_of_a_queue(client: Client) -> None:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    keys = ["gpu", "gpu\x06\x169"]
    connection.delete(*keys)
    try:
        connection.rpush("gpu", "a", "b")
        connection.rpush("gpu\x06\x169", "c")
        assert value(scrape(client), "downshift_queue_depth", queue="gpu") == 3
    finally:
        connection.delete(*keys)


def test_workers_heartbeat_age_and_gpu_memory(client: Client) -> None:
    now = timezone.now()
    gpu = {"index": 0, "name": "NVIDIA H200", "memory_total_mb": 1000, "memory_used_mb": 250, "utilization": 40}
    for name, age in (("celery@gpu-1", 5), ("celery@gpu-2", 3600)):
        GpuWorker.objects.create(
            name=name, host="h", queues=["gpu"], gpus=[gpu], started_at=now, heartbeat_at=now - timedelta(seconds=age)
        )
    samples = scrape(client)
    assert 5 <= value(samples, "downshift_worker_heartbeat_age_seconds", worker="celery@gpu-1") < 60
    assert value(samples, "downshift_worker_heartbeat_age_seconds", worker="celery@gpu-2") >= 3600
    assert value(samples, "downshift_gpu_memory_used_bytes", worker="celery@gpu-1", gpu=0) == 250 * 1024 * 1024
    assert value(samples, "downshift_gpu_memory_total_bytes", worker="celery@gpu-1", gpu=0) == 1000 * 1024 * 1024
    assert value(samples, "downshift_gpu_utilization_ratio", worker="celery@gpu-1", gpu=0) == 0.4
    assert ("downshift_gpu_memory_used_bytes", (("gpu", "0"), ("worker", "celery@gpu-2"))) not in samples  # offline
    assert value(samples, "downshift_workers", status="online") == 1
    assert value(samples, "downshift_workers", status="offline") == 1


def test_job_durations_of_recently_finished_jobs(client: Client, project: Project) -> None:
    now = timezone.now()
    for seconds in (10, 100):
        DiscoveryRun.objects.create(
            project=project, status=JobStatus.SUCCEEDED, started_at=now - timedelta(seconds=seconds), finished_at=now
        )
    old = now - timedelta(days=3)
    DiscoveryRun.objects.create(project=project, status=JobStatus.FAILED, started_at=old, finished_at=old)
    samples = scrape(client)
    labels = {"kind": "discoveryrun", "status": "succeeded"}
    assert value(samples, "downshift_job_duration_seconds_count", **labels) == 2
    assert value(samples, "downshift_job_duration_seconds_sum", **labels) == pytest.approx(110, abs=1)
    assert value(samples, "downshift_job_duration_seconds_bucket", le="15.0", **labels) == 1
    assert value(samples, "downshift_job_duration_seconds_bucket", le="+Inf", **labels) == 2
    assert value(samples, "downshift_job_duration_seconds_count", kind="discoveryrun", status="failed") == 0


def test_a_restart_removes_the_files_of_dead_processes_only_when_none_lives(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)
    (tmp_path / f"counter_{dead}.db").write_bytes(b"")
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
    metrics_dir_prepare(tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == [f"counter_{os.getpid()}.db"]

    (tmp_path / f"histogram_{dead}.db").write_bytes(b"")
    (tmp_path / f"counter_{os.getppid()}.db").write_bytes(b"")  # a live process: nothing goes
    metrics_dir_prepare(tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
