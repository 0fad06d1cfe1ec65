"""One active discovery run and one active re-scan per project hold under concurrent starts: a partial
unique constraint decides, not a read before the insert."""

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import IntegrityError, connection

from apps.common.errors import Conflict
from apps.curation.models import RescanJob
from apps.curation.services import rescan_job_create
from apps.discovery.models import DiscoveryRun
from apps.discovery.services import discovery_run_create
from apps.jobs.models import JobStatus
from apps.projects.models import Project

STARTS = 6


def start_at_once(start: Callable[[], Any]) -> tuple[int, list[str]]:
    barrier = threading.Barrier(STARTS)
    started, conflicts, errors = [], [], []

    def one() -> None:
        try:
            barrier.wait()
            start()
            started.append(1)
        except Conflict as exc:
            conflicts.append(exc.message)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(STARTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return len(started), conflicts


@pytest.mark.django_db(transaction=True)
def test_concurrent_discovery_starts_make_one_run(project: Project) -> None:
    with mock.patch("apps.discovery.tasks.discovery_run_execute_task.apply_async"):
        started, conflicts = start_at_once(lambda: discovery_run_create(project=project, created_by=None))
    assert started == 1 and len(conflicts) == STARTS - 1
    assert all("already queued" in message or "already running" in message for message in conflicts)
    assert DiscoveryRun.objects.filter(project=project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_rescan_starts_make_one_job(project: Project) -> None:
    with mock.patch("apps.curation.tasks.rescan_job_run_task.apply_async"):
        started, conflicts = start_at_once(lambda: rescan_job_create(project=project, created_by=None))
    assert started == 1 and len(conflicts) == STARTS - 1
    assert RescanJob.objects.filter(project=project).count() == 1


def test_the_database_refuses_a_second_active_run_whatever_the_code_does(project: Project) -> None:
    DiscoveryRun.objects.create(project=project, status=JobStatus.RUNNING)
    DiscoveryRun.objects.create(project=project, status=JobStatus.SUCCEEDED)  # finished runs do not count
    with pytest.raises(IntegrityError):
        DiscoveryRun.objects.create(project=project, status=JobStatus.QUEUED)


def test_another_project_may_run_at_the_same_time(project: Project, other_project: Project) -> None:
    DiscoveryRun.objects.create(project=project, status=JobStatus.RUNNING)
    assert DiscoveryRun.objects.create(project=other_project, status=JobStatus.QUEUED)
