"""The web server's own timeout bounds a request: gunicorn, started as docker-compose and the demo start it
(controlplane/gunicorn.conf.py), stops a worker whose request runs past WEB_TIMEOUT_S, replaces it, and
keeps answering."""

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings

from apps.calls.models import Call
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.calls.test_ingest_budget import dense_pii, with_text
from tests.celery_worker import database_url
from tests.faults.procs import free_port, gunicorn, http_ok, until

TIMEOUT_S = 3


def _get(port: int, path: str, timeout: float = 5) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture
def web(
    transactional_db: None,
    base_env: dict[str, str],
    scratch: Callable[[str], Path],
    cleanup: Callable[[Callable[[], Any]], None],
) -> tuple[int, Path]:
    port = free_port()
    env = base_env | {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "WEB_TIMEOUT_S": str(TIMEOUT_S),
        # A budget far past the default, so that one request can run long enough to meet the timeout.
        "INGEST_MAX_CALL_TEXT_CHARS": "100000000",
        "INGEST_MAX_REQUEST_TEXT_CHARS": "100000000",
    }
    server = gunicorn(port, env=env, log_dir=scratch("web"), workers=1).start()
    cleanup(server.stop)
    until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=120, what="gunicorn to answer")
    return port, server.log


def test_a_request_past_the_timeout_is_answered_503_and_the_server_keeps_answering(
    web: tuple[int, Path], project: Project
) -> None:
    port, log = web
    _, secret = api_key_create(project=project, name="timeout")
    # About 2 MB dense with e-mails, phones and card numbers: some 20 s of redaction on one core.
    body = orjson.dumps({"calls": [with_text("slow", dense_pii(2_000_000))]})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.monotonic()
    conn.request(
        "POST",
        "/api/v1/calls",
        body=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    answer = conn.getresponse()
    payload = orjson.loads(answer.read())
    took = time.monotonic() - started
    conn.close()
    print(f"answered {answer.status} after {took:.1f} s (WEB_TIMEOUT_S={TIMEOUT_S})")
    assert answer.status == 503
    assert answer.getheader("Retry-After") == "30"
    assert payload["code"] == "timeout" and f"longer than {TIMEOUT_S} s (WEB_TIMEOUT_S)" in payload["message"]
    assert took < TIMEOUT_S + 5  # the arbiter checks about once a second

    assert _get(port, "/healthz", timeout=60) == 200  # a fresh worker answers
    assert f"A request ran past WEB_TIMEOUT_S={TIMEOUT_S} s: answered 503" in log.read_text()
    assert not Call.objects.filter(project=project, client_id="slow").exists()


def test_the_config_refuses_a_timeout_that_is_not_a_positive_number() -> None:
    env = {**os.environ, "WEB_TIMEOUT_S": "soon"}
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('controlplane/gunicorn.conf.py')"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "WEB_TIMEOUT_S='soon': expected a positive whole number" in done.stderr
