"""Browser-test fixtures: a real Celery worker and real Chromium (Debian's, never downloaded)."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.celery_worker import start_worker

CHROMIUM = "/usr/bin/chromium"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def worker(live_server: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker("cpu")
    yield proc
    _stop(proc)


@pytest.fixture
def cpu_and_gpu_worker(live_server: Any, settings: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on both queues (on a GPU-less machine it trains LoRA runs on its CPU), with the
    artifacts of this test in its own folder."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    proc = start_worker("cpu,gpu")
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
        # Whatever the Content-Security-Policy blocked (an inline script or style) fails the test.
        blocked: list[str] = []
        page.on(
            "console",
            lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None,
        )
        yield page
        browser.close()
        assert not blocked, blocked
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
