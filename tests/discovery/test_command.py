from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.discovery.models import DiscoveryRun
from apps.discovery.tasks import discovery_run_execute_task
from apps.projects.models import Project
from tests.conftest import make_call


def discover(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("discover_tasks", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_wait_runs_discovery_here_and_prints_the_tasks(sample_calls: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[str] = []
    monkeypatch.setattr(discovery_run_execute_task, "apply_async", lambda args: queued.append(args[0]))

    out, err = discover("--project", sample_calls.slug, "--min-cluster-size", "10", "--wait")

    run = DiscoveryRun.objects.get(project=sample_calls)
    assert run.status == "succeeded" and run.clusters_found == 3
    assert "Found 3 tasks in 120 calls" in out and "0 calls fit no task" in out
    assert "Timings: reading" in out and "clustering" in out and "describing" in out
    table = out[out.index("Task  ") :].splitlines()
    assert [line.split()[0] for line in table[1:]] == ["T1", "T2", "T3"]
    assert sum(int(line.split()[-1]) for line in table[1:]) == 120
    assert "done: 3 tasks in 120 calls" in err and "100%" in err  # the progress bar's last state

    # The message the service queued reaches a worker later: it finds the run done and changes nothing.
    assert queued == [str(run.id)]
    discovery_run_execute_task(queued[0])
    again = DiscoveryRun.objects.get(id=run.id)
    assert (again.status, again.attempt, again.finished_at) == ("succeeded", run.attempt, run.finished_at)


def test_without_wait_it_queues_the_run_for_a_worker(project: Project, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        out, _ = discover("--project", project.slug, "--agent", "a", "--agent", "b", "--since", "2026-03-01")
    run = DiscoveryRun.objects.get(project=project)
    assert str(run.id) in out and "worker" in out
    assert run.status == "queued" and run.agents == ["a", "b"] and run.since is not None
    assert run.since.isoformat().startswith("2026-03-01T00:00:00")
    assert len(callbacks) == 1


def test_an_unknown_project_is_an_error(db: None) -> None:
    with pytest.raises(CommandError, match="No project with the slug 'nope'"):
        discover("--project", "nope", "--wait")


def test_a_failed_run_is_an_error_with_its_reason(project: Project) -> None:
    from apps.calls.ingest import Batch
    from apps.calls.services import calls_ingest

    calls_ingest(project=project, batch=Batch(records=[(0, make_call())]))
    with pytest.raises(CommandError, match="failed: Only 1 curated calls in scope"):
        discover("--project", project.slug, "--wait")
    assert DiscoveryRun.objects.get(project=project).status == "failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-cluster-size", "1"], "min_cluster_size: The smallest task must be at least 2 calls"),
        (["--since", "last tuesday"], "'last tuesday' is not an ISO 8601 time"),
        (["--since", "2026-03-08", "--until", "2026-03-01"], "'until' must be after 'since'"),
    ],
)
def test_bad_options_are_errors_that_say_why(project: Project, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        discover("--project", project.slug, *args)
    assert not DiscoveryRun.objects.exists()


def test_a_run_already_in_progress_is_an_error(project: Project) -> None:
    DiscoveryRun.objects.create(project=project, status="running")
    with pytest.raises(CommandError, match="already running"):
        discover("--project", project.slug, "--wait")
