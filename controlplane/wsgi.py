"""The web process: gunicorn serves `controlplane.wsgi`. It imports no torch: apps.curation imports
presidio and spaCy with torch hidden (see apps/curation/__init__.py); tests/common/test_no_torch.py checks it."""

import json
import os
import sys
from collections.abc import Callable, Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")


class RequestTimedOut(BaseException):
    """Raised in a request by gunicorn's worker_abort hook (controlplane/gunicorn.conf.py) when it ran past
    WEB_TIMEOUT_S. A BaseException, so no `except Exception` in the app swallows it; transactions it unwinds
    roll back. The worker answers 503 and then exits (the arbiter starts a fresh one)."""

    def __init__(self, timeout: int) -> None:
        super().__init__(f"The request ran past WEB_TIMEOUT_S={timeout} s")
        self.timeout = timeout


def _timeout_answer(environ: dict[str, Any], exc: RequestTimedOut) -> tuple[str, bytes]:
    message = (
        f"The request took longer than {exc.timeout} s (WEB_TIMEOUT_S) and was stopped. It may not have "
        "completed: retrying is safe (a call logged twice is stored once); if it keeps happening, send less at once."
    )
    if environ.get("PATH_INFO", "").startswith("/api/"):
        return "application/json", json.dumps({"code": "timeout", "message": message, "errors": []}).encode()
    page = f"<!doctype html><title>Timed out</title><h1>Timed out</h1><p>{message}</p>"
    return "text/html; charset=utf-8", page.encode()


def _answer_timeouts(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except RequestTimedOut as exc:
            content_type, body = _timeout_answer(environ, exc)
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Retry-After", "30")]
            start_response("503 Service Unavailable", headers, sys.exc_info())
            return [body]

    return wrapped


django_application = get_wsgi_application()
application = _answer_timeouts(django_application)
from controlplane.metrics import metrics_dir_prepare  # noqa: E402  (after django.setup())

metrics_dir_prepare()  # a previous run's counters go when none of its processes lives
import_module(settings.ROOT_URLCONF)  # every page and API module, at start-up rather than on a request

# Build the PII engine before the first request (with gunicorn --preload, once, shared by the workers):
# it takes a second or two, and every ingest request needs it.
from apps.curation.services import pii_scanner_warm_up  # noqa: E402

pii_scanner_warm_up()
