"""gunicorn's settings for the web process, from the environment:

    gunicorn -c controlplane/gunicorn.conf.py controlplane.wsgi

Sync workers, because only there does gunicorn's `timeout` bound a request: a sync worker that has not
come back to its accept loop within WEB_TIMEOUT_S is killed by the arbiter (SIGABRT, then SIGKILL) and
replaced, and the client's connection is closed. A gthread worker's heartbeat comes from its main
thread, so a request thread may run on for ever (issue 15: one dense 5 MB message held a worker for 27
minutes under `--threads 4`). Ingestion's text budget (INGEST_MAX_*_TEXT_CHARS) refuses such work with a
413 before it starts; the timeout is the backstop for anything else. On 2 cores sync workers ingest as
fast as gthread (bench/ingest.py, bench/README.md). A sync worker holds one connection at a time, so in
production it sits behind a buffering proxy (nginx, a load balancer) that absorbs slow clients.

    WEB_BIND            address to listen on (default 0.0.0.0:8000)
    WEB_WORKERS         worker processes (default 2 x cores + 1)
    WEB_TIMEOUT_S       the most seconds one request may take (default 120)
    WEB_ACCESS_LOG      "-" for stdout (default), a path, or "" for none
"""

import logging
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name}={value!r}: expected a positive whole number")
    return int(value)


bind = [os.environ.get("WEB_BIND", "0.0.0.0:8000")]
worker_class = "sync"
workers = _int("WEB_WORKERS", 2 * (os.cpu_count() or 1) + 1)
timeout = _int("WEB_TIMEOUT_S", 120)
graceful_timeout = 30
# The PII engine and the NER model load once, before the fork, shared by the workers (controlplane.wsgi).
preload_app = True
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None


def worker_abort(worker: object) -> None:
    """The arbiter's SIGABRT to a worker whose request ran past the timeout. The request is interrupted where
    it stands (RequestTimedOut unwinds it; controlplane.wsgi answers 503 with Retry-After), then the worker
    exits and a fresh one takes its place. A worker stuck inside C code that never returns to Python gets
    SIGKILL from the arbiter a second later: its client sees the connection closed."""
    from controlplane.wsgi import RequestTimedOut

    logging.getLogger("gunicorn.error").error(
        "A request ran past WEB_TIMEOUT_S=%s s: answered 503, worker %s replaced", timeout, getattr(worker, "pid", "?")
    )
    raise RequestTimedOut(timeout)
