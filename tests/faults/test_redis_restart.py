"""Redis dies (kill -9, no persistence: it comes back empty) while jobs run and queue and the gateway takes
traffic, then restarts. Job rows are the truth: the running job finishes, a job whose message Redis lost and a
job created while Redis was down are sent again by the sweep, and all end succeeded. The gateway answers every
call throughout (throttle counts fail open; a call answered while Redis is down is not logged, as its log is a
Redis stream) and recovers: its counts, its log and its pub/sub channel work again once Redis is back."""

import io
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import kombu.pools
import orjson
import pytest
import redis
from django.conf import settings

from apps.calls.models import Call, ImportJob
from apps.calls.services import import_job_create
from apps.common import throttle
from apps.common.redis_client import redis_client
from apps.jobs.models import JobStatus
from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_revoke
from tests.celery_worker import database_url
from tests.faults.conftest import FAULT_TIMEOUT_S, chat
from tests.faults.procs import PrivateRedis, Tally, celery_worker, free_port, http_ok, until, uvicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(FAULT_TIMEOUT_S)]

RUNNING_CALLS, QUEUED_CALLS = 3000, 200
DOWN_S = 4.0


@pytest.fixture
def on_private_redis(private_redis: PrivateRedis, settings: Any) -> Iterator[None]:
    """This process sends Celery tasks and Redis signals to the private Redis, as the product's processes do."""
    from controlplane.celery import app

    def point_at(url: str) -> None:
        # kombu keeps its connection pools in a registry keyed by the broker: closing only the app's pool left a
        # closed one there, handed back to every later test of this process ("Acquire on closed pool").
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = url
        redis_client.cache_clear()

    before = app.conf.broker_url
    settings.REDIS_URL = private_redis.url
    point_at(private_redis.url)
    yield
    settings.REDIS_URL = before
    point_at(before)


def _upload(prefix: str, count: int) -> io.BytesIO:
    lines = [
        orjson.dumps(
            {
                "id": f"{prefix}-{i}",
                "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"{prefix} ticket {i}"}]},
                "response": {"role": "assistant", "content": "billing"},
            }
        )
        for i in range(count)
    ]
    return io.BytesIO(b"\n".join(lines))


def _job(prefix: str, count: int) -> ImportJob:
    project = Project.objects.get(slug="faults")
    return import_job_create(
        project=project, upload=_upload(prefix, count), filename=f"{prefix}.jsonl", created_by=None
    )


def test_a_redis_restart_strands_no_job_and_the_gateway_keeps_answering(
    base_env: dict[str, str],
    cleanup: Callable[[Callable[[], Any]], None],
    scratch: Callable[[str], Path],
    private_redis: PrivateRedis,
    on_private_redis: None,
    gateway_key: str,
) -> None:
    folder = scratch("redis-run")
    env = base_env | {"DATABASE_URL": database_url(), "REDIS_URL": private_redis.url}
    env |= {"JOB_HEARTBEAT_S": "1", "JOB_STALE_S": "3", "GATEWAY_LOG_DRAIN_S": "1"}
    worker = celery_worker(env=env, log_dir=folder, folder=folder)
    cleanup(worker.stop)
    worker.start()
    port = free_port()
    gateway = uvicorn(port, env=env, log_dir=folder)
    cleanup(gateway.stop)
    gateway.start()
    url = f"http://127.0.0.1:{port}"
    until(lambda: http_ok(f"{url}/healthz"), timeout=60, what="the gateway")

    # Traffic throughout: one client, one call after another, each with the phase it was answered in.
    tally, answered, phase, stop = Tally(), [], ["before"], threading.Event()
    deadline = time.monotonic() + FAULT_TIMEOUT_S - 30

    failures: list[Exception] = []

    def traffic() -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not stop.is_set():
                call_id, asked = f"redis-{i:05d}", time.monotonic()
                try:
                    response = chat(client, url, secret=gateway_key, call_id=call_id, tally=tally, deadline=deadline)
                except Exception as exc:
                    failures.append(exc)
                    return
                answered.append((call_id, response.status_code, phase[0], time.monotonic() - asked))
                i += 1
                time.sleep(0.02)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()

    running = _job("running", RUNNING_CALLS)
    until(lambda: ImportJob.objects.get(id=running.id).status == JobStatus.RUNNING, timeout=90, what="a running job")
    queued = _job("queued", QUEUED_CALLS)  # waits behind the running one (one worker process): its message is in Redis
    time.sleep(0.5)

    running_at_kill = ImportJob.objects.get(id=running.id).status
    down = time.monotonic()
    phase[0] = "down"
    private_redis.kill()
    created_while_down = _job("while-down", QUEUED_CALLS)  # committed; its task cannot be sent
    time.sleep(max(0.0, DOWN_S - (time.monotonic() - down)))
    private_redis.start()
    downtime = time.monotonic() - down
    phase[0] = "after"

    jobs = [running, queued, created_while_down]

    def finished() -> list[ImportJob]:
        found = [ImportJob.objects.get(id=job.id) for job in jobs]
        return found if all(job.is_terminal for job in found) else []

    try:
        ended = until(finished, timeout=120, what="the jobs to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker's log ends:\n{worker.output()}") from None
    time.sleep(1.0)
    stop.set()
    sender.join(timeout=30)

    # The gateway recovered: it counts in Redis again, its calls are logged and drained, it hears revocations.
    counted = until(
        lambda: list(redis.Redis.from_url(private_redis.url).scan_iter(f"{throttle.PREFIX}gateway-key:*")),
        timeout=10,
        what="the gateway's throttle counts in the restarted Redis",
    )
    after = [call_id for call_id, _, when, _ in answered if when == "after"]
    logged_after = until(
        lambda: Call.objects.filter(client_id__in=[f"gw-{c}" for c in after]).count() == len(after) and len(after),
        timeout=30,
        what="the calls answered after the restart in the call log",
    )
    api_key_revoke(key=ApiKey.objects.get(project__slug="faults"))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "still there?"}]}
    revoked = until(
        lambda: (
            httpx.post(
                f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {gateway_key}"}
            ).status_code
            == 401
        ),
        timeout=10,
        what="the gateway to hear of the revoked key (pub/sub after the restart)",
    )

    before = [f"gw-{call_id}" for call_id, _, when, _ in answered if when == "before"]
    before_logged = Call.objects.filter(client_id__in=before).count()  # the rest went down with Redis, undrained
    resent = worker.log.read_text(errors="replace").count("sending it again")
    during = [(status, seconds) for _, status, when, seconds in answered if when == "down"]
    print(
        f"\nredis restart: redis down {downtime:.1f} s; jobs (the first {running_at_kill} when Redis died) "
        + ", ".join(f"{job.filename} {job.status} (attempt {job.attempt}, {job.accepted} stored)" for job in ended)
        + f"; {resent} sent again by the sweep; gateway: {len(answered)} calls answered, {len(during)} while "
        f"Redis was down (slowest "
        f"{max((s for _, s in during), default=0):.2f} s, median {statistics.median(s for _, s in during):.3f} s), "
        f"{tally.retries} retries {tally.by_reason}, "
        f"{before_logged} of {len(before)} calls before the outage and {logged_after} after it logged, "
        f"throttle counting again ({len(counted)} keys)"
    )
    for job, count in zip(ended, [RUNNING_CALLS, QUEUED_CALLS, QUEUED_CALLS], strict=True):
        assert job.status == JobStatus.SUCCEEDED, (job.filename, job.status, job.error)
        assert job.accepted + job.duplicates == count
    assert Call.objects.filter(client_id__startswith="running-").count() == RUNNING_CALLS
    assert resent >= 1, "the job created while Redis was down was not sent by the sweep"
    assert failures == []
    assert during, "no gateway call met the outage: the test proved nothing"
    assert all(status == 200 for _, status, _, _ in answered)
    assert tally.retries == 0, "the gateway failed calls while Redis was down"
    assert revoked
    assert settings.REDIS_URL == private_redis.url
