"""kill -9 of the gateway (uvicorn) under load, plain and streamed calls, restarted at once as a supervisor
would: a client that retries sees every call answered, and the call log (the gateway's Redis stream, drained
into Postgres) holds each answered call exactly once. The gateway logs a call before its answer leaves (before
a stream's end), so a kill after answering loses nothing; a call it logged but never answered is retried by
the client under the same Idempotency-Key, so its second record has the same id and ingest keeps one."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from apps.calls.models import Call
from apps.serving.gateway import log
from tests.celery_worker import database_url
from tests.faults.conftest import FAULT_TIMEOUT_S, answer_of, chat, content_of, drain_gateway_log
from tests.faults.procs import PrivateRedis, Tally, free_port, http_ok, until, uvicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(FAULT_TIMEOUT_S)]

CALLS, CLIENTS = 600, 6
KILL_AFTER = 200
SUPERVISOR_DELAY_S = 0.5


def test_a_gateway_killed_under_load_loses_no_answered_call_and_logs_none_twice(
    base_env: dict[str, str],
    cleanup: Callable[[Callable[[], Any]], None],
    scratch: Callable[[str], Path],
    private_redis: PrivateRedis,
    gateway_key: str,
) -> None:
    env = base_env | {"DATABASE_URL": database_url(), "REDIS_URL": private_redis.url}
    port, folder = free_port(), scratch("gateway")
    gateway = uvicorn(port, env=env, log_dir=folder)
    cleanup(lambda: gateway.stop())
    url = f"http://127.0.0.1:{port}"
    gateway.start()
    until(lambda: http_ok(f"{url}/healthz"), timeout=60, what="the gateway")

    tally, answered, downtime = Tally(), {}, [0.0]
    lock = threading.Lock()
    deadline = time.monotonic() + FAULT_TIMEOUT_S - 60

    def supervise() -> None:
        nonlocal gateway
        until(lambda: len(answered) >= KILL_AFTER, timeout=120, what="the first answers")
        down = time.monotonic()
        gateway.kill()  # SIGKILL to the process group, mid-load
        time.sleep(SUPERVISOR_DELAY_S)
        gateway = uvicorn(port, env=env, log_dir=folder).start()
        until(lambda: http_ok(f"{url}/healthz"), timeout=60, what="the restarted gateway")
        downtime[0] = time.monotonic() - down

    def one(i: int, client: httpx.Client) -> None:
        call_id = f"kill-{i:04d}"
        stream = i % 3 == 0
        response = chat(client, url, secret=gateway_key, call_id=call_id, tally=tally, deadline=deadline, stream=stream)
        assert response.status_code == 200, response.text
        content = content_of(response)
        assert content == answer_of({"messages": [{"content": f"call {call_id}"}]})
        with lock:
            answered[call_id] = content

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    started = time.monotonic()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda i: one(i, client), range(CALLS)))
    supervisor.join(timeout=60)
    elapsed = time.monotonic() - started

    stream = redis.Redis.from_url(private_redis.url)
    records = until(lambda: stream.xlen(log.STREAM) >= CALLS and stream.xlen(log.STREAM), timeout=10, what="the log")
    stored = drain_gateway_log(env)
    logged = list(Call.objects.filter(client_id__startswith="gw-kill-").values_list("client_id", flat=True))
    lost = sorted(set(answered) - {client_id.removeprefix("gw-") for client_id in logged})
    print(
        f"\ngateway kill -9: {CALLS} calls (a third streamed) from {CLIENTS} clients, {tally.retries} retries "
        f"{tally.by_reason}, gateway down {downtime[0]:.1f} s, {elapsed:.1f} s in all; {len(answered)} answered, "
        f"{records} records logged ({records - CALLS} twice, kept once), {stored} stored, {len(lost)} lost, "
        f"{len(logged) - len(set(logged))} duplicated"
    )
    assert downtime[0] > 0, "the gateway was never killed"
    assert tally.retries > 0, "no call met the kill: the test proved nothing"
    assert len(answered) == CALLS
    assert lost == []
    assert sorted(logged) == sorted(f"gw-{call_id}" for call_id in answered)
