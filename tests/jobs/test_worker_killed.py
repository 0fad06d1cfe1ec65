"""kill -9 of the worker child running a job: the row ends requeued-and-resumed (every kind here resumes
safely) within a heartbeat window or two, through the real sweep on Celery beat, and the project can start
its next run. A table lock held by the test parks the job mid-run, so the kill lands while it works."""

import io
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from apps.calls.ingest import Batch
from apps.calls.models import Call, ImportJob
from apps.calls.services import calls_ingest, import_job_create
from apps.curation.models import RescanJob
from apps.curation.services import rescan_job_create
from apps.discovery.models import DiscoveryRun
from apps.discovery.services import discovery_run_create
from apps.jobs.models import Job, JobStatus
from apps.projects.models import Project
from tests.celery_worker import database_url, start_worker
from tests.curation.test_rescan import with_names_off_then_on

pytestmark = pytest.mark.django_db(transaction=True)

HEARTBEAT_S, STALE_S = 1, 3
DEADLINE_S = 120  # generous for a loaded CI machine; recovery itself takes about STALE_S + a beat


@pytest.fixture
def worker(tmp_path: Path, settings: Any) -> Iterator[None]:
    """A prefork worker (one child, so there is a child to kill) with Celery beat running the sweep."""
    settings.JOB_HEARTBEAT_S, settings.JOB_STALE_S = HEARTBEAT_S, STALE_S
    proc = start_worker(
        "cpu",
        pool="prefork",
        beat_dir=tmp_path,
        JOB_HEARTBEAT_S=str(HEARTBEAT_S),
        JOB_STALE_S=str(STALE_S),
        NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache"),
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


class CallsLocked:
    """Lock the calls table from another connection, so a job parks at its first read (ACCESS EXCLUSIVE),
    or at its first write or SELECT ... FOR UPDATE while plain reads go on (EXCLUSIVE)."""

    def __init__(self, mode: str = "ACCESS EXCLUSIVE") -> None:
        self.mode = mode

    def __enter__(self) -> "CallsLocked":
        self.conn = psycopg.connect(database_url())
        self.conn.execute(f"LOCK TABLE calls_call IN {self.mode} MODE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()


def wait_for(model: type[Job], job_id: Any, done: Callable[[Job], bool], what: str) -> Job:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        job = model._default_manager.get(id=job_id)
        if done(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{what}: still {job.status} ({job.message!r}, {job.error!r}) after {DEADLINE_S} s")


def kill_while_running(model: type[Job], job_id: Any) -> None:
    """Wait until a worker child holds the job (parked on the lock), then kill -9 that child."""
    job = wait_for(model, job_id, lambda j: j.status == JobStatus.RUNNING and ":" in j.worker, "claim")
    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)


def recovered(model: type[Job], job_id: Any) -> Job:
    job = wait_for(model, job_id, lambda j: j.is_terminal, "recovery")
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.error)
    assert job.attempt == 2  # claimed, killed, requeued by the sweep, claimed again
    return job


def test_a_killed_import_is_resumed_and_stores_each_call_once(
    worker: None, project: Project, sample_records: list[dict[str, Any]]
) -> None:
    records = sample_records[:300]
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    with CallsLocked():
        job = import_job_create(project=project, upload=io.BytesIO(body), filename="calls.jsonl", created_by=None)
        kill_while_running(ImportJob, job.id)
    done = recovered(ImportJob, job.id)
    assert isinstance(done, ImportJob) and done.accepted == 300
    assert Call.objects.filter(project=project).count() == 300


def test_a_killed_rescan_is_resumed_and_the_next_one_can_start(worker: None, project: Project) -> None:
    with_names_off_then_on(project, 200)
    with CallsLocked("EXCLUSIVE"):  # creating the job counts the calls to re-scan
        job = rescan_job_create(project=project, created_by=None)
        kill_while_running(RescanJob, job.id)
    done = recovered(RescanJob, job.id)
    assert isinstance(done, RescanJob) and done.done == 200
    assert not Call.objects.filter(project=project, request__icontains="Lindqvist").exists()
    rescan_job_create(project=project, created_by=None)  # no longer blocked by a row stuck "running"


def test_a_killed_discovery_run_is_run_again_and_the_next_one_can_start(
    worker: None, project: Project, sample_records: list[dict[str, Any]]
) -> None:
    calls_ingest(project=project, batch=Batch(records=list(enumerate(sample_records[:150]))))
    with CallsLocked():
        run = discovery_run_create(project=project, created_by=None)
        kill_while_running(DiscoveryRun, run.id)
    done = recovered(DiscoveryRun, run.id)
    assert isinstance(done, DiscoveryRun) and done.clusters_found >= 1
    discovery_run_create(project=project, created_by=None)
