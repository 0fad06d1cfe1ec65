"""Browser-test fixtures: a real Celery worker and real Chromium (Debian's, never downloaded)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

CHROMIUM = "/usr/bin/chromium"


def _start_worker(queues: str) -> subprocess.Popen[bytes]:
    """A real Celery worker on the test database and the test Redis."""
    db = connection.settings_dict
    host = db["HOST"] or "localhost"
    netloc = f"{db['USER']}:{db['PASSWORD']}@" if db["PASSWORD"] else f"{db['USER']}@"
    url = (
        f"postgresql://{netloc}{host}:{db['PORT'] or 5432}/{db['NAME']}"
        if not host.startswith("/")
        else f"postgresql://{netloc}/{db['NAME']}?host={host}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
    }
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "controlplane",
            "worker",
            "-Q",
            queues,
            "-P",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def worker(live_server: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = _start_worker("cpu")
    yield proc
    _stop(proc)


@pytest.fixture
def cpu_and_gpu_worker(live_server: Any, settings: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on both queues (on a GPU-less machine it trains LoRA runs on its CPU), with the
    artifacts of this test in its own folder."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    proc = _start_worker("cpu,gpu")
    yield proc
    _stop(proc)


@pytest.fixture
def page(live_server: Any) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: apt-get install chromium (bin/test does this as root)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
    # synchronous, so Django's async guard is lifted for this test only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
