import argparse
import threading
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from apps.common.errors import DomainError
from apps.discovery import pipeline, selectors, services
from apps.discovery.models import DiscoveryRun
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project

POLL_S = 0.5


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{value}' is not an ISO 8601 time, such as 2026-03-01T09:00") from exc
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Find the recurring tasks in a project's calls. Queues a discovery run for a worker, or with --wait "
        "runs it here with a progress bar and prints the tasks found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--since", type=_moment, help="only calls at or after this time (ISO 8601)")
        parser.add_argument("--until", type=_moment, help="only calls before this time (ISO 8601)")
        parser.add_argument("--agent", action="append", default=[], help="only this agent's calls (repeatable)")
        parser.add_argument("--min-cluster-size", type=int, help="the fewest calls a task may have")
        parser.add_argument("--wait", action="store_true", help="run it in this process and print the tasks")

    def handle(
        self,
        *args: Any,
        project: str,
        since: datetime | None,
        until: datetime | None,
        agent: list[str],
        min_cluster_size: int | None,
        wait: bool,
        **options: Any,
    ) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with the slug '{project}'")
        try:
            run = services.discovery_run_create(
                project=target,
                created_by=None,
                since=since,
                until=until,
                agents=agent,
                min_cluster_size=min_cluster_size,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from exc
        if not wait:
            self.stdout.write(f"Discovery run {run.id} queued; a worker will run it (or pass --wait to run it here).")
            return
        run = self._execute(run)
        if run.status == JobStatus.FAILED:
            raise CommandError(f"Discovery run {run.id} failed: {run.error}")
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Discovery run {run.id} was {run.get_status_display().lower()}")
        self._summary(target, run)

    def _execute(self, run: DiscoveryRun) -> DiscoveryRun:
        """Run it here while a thread shows the row's progress. The message the service queued finds the
        run claimed and returns; should a worker have claimed it first, this waits for that worker."""
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(run.id, done), daemon=True)
        watcher.start()
        running_here = True
        try:
            pipeline.discovery_run_execute(run_id=run.id)
            running_here = False
            run.refresh_from_db()
            while not run.is_terminal:
                time.sleep(POLL_S)
                run.refresh_from_db()
        except KeyboardInterrupt:
            run.refresh_from_db()
            if running_here and run.status == JobStatus.RUNNING:
                jobs.job_cancelled(job=run)
            else:
                services.discovery_run_cancel(run=run)
            raise CommandError(f"Interrupted: discovery run {run.id} was cancelled") from None
        finally:
            done.set()
            watcher.join()
        return run

    def _watch(self, run_id: UUID, done: threading.Event) -> None:
        bar = tqdm(
            total=100,
            file=self.stderr._out,
            bar_format="{desc:<60.60} {percentage:3.0f}%|{bar}| {elapsed}",
            mininterval=POLL_S,
        )
        try:
            while True:
                finished = done.wait(POLL_S)
                row = DiscoveryRun.objects.filter(id=run_id).values("progress", "stage", "message").first()
                if row:
                    bar.n = round(row["progress"] * 100)
                    bar.set_description_str(f"{row['stage']}: {row['message']}" if row["message"] else row["stage"])
                if finished:
                    break
        finally:
            bar.close()
            connection.close()

    def _summary(self, project: Project, run: DiscoveryRun) -> None:
        self.stdout.write(
            f"Found {run.clusters_found} tasks in {run.calls_total:,} calls "
            f"({run.texts_total:,} distinct; {run.texts_embedded:,} texts embedded, the rest cached); "
            f"{run.unassigned:,} calls fit no task."
        )
        if run.timings:
            stages = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in run.timings.items())
            self.stdout.write(f"Timings: {stages} (total {sum(run.timings.values()):.1f}s)")
        clusters = selectors.task_cluster_list(project=project)
        stats = selectors.cluster_stats(project=project, cluster_ids=[c.id for c in clusters])
        rows = [(c.code, c.name, f"{stats[c.id].calls if c.id in stats else 0:,}") for c in clusters]
        header = ("Task", "Name", "Calls")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
        for code, name, calls in [header, *rows]:
            self.stdout.write(f"  {code:<{widths[0]}}  {name:<{widths[1]}}  {calls:>6}")
