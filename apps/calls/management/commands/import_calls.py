from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.calls.services import IngestResult, calls_import_file
from apps.projects.models import Project


class Command(BaseCommand):
    help = "Backfill a JSONL file of calls (gzip is fine) into a project, with the API's validation and idempotency."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--show-errors", type=int, default=20, help="how many rejected records to list")

    def handle(self, *args: Any, file: Path, project: str, show_errors: int, **options: Any) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with the slug '{project}'")
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        bar = tqdm(
            total=file.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=f"importing {file.name}",
            file=self.stderr._out,
            mininterval=0.5,
        )

        def progress(total: IngestResult, lines_done: int, bytes_done: int) -> bool:
            bar.update(bytes_done - bar.n)
            bar.set_postfix(stored=total.accepted, duplicates=total.duplicates, rejected=total.rejected_count)
            return True

        result = calls_import_file(project=target, path=file, progress=progress)
        bar.close()
        self.stdout.write(
            f"{result.accepted} calls stored, {result.duplicates} duplicates, {result.rejected_count} rejected"
        )
        if result.ignored_fields:
            self.stdout.write(f"Fields not stored (unknown): {', '.join(sorted(result.ignored_fields))}")
        for rejection in result.rejected[:show_errors]:
            problems = "; ".join(f"{e['field']}: {e['message']}" for e in rejection["errors"])
            self.stdout.write(f"  line {rejection['index'] + 1}: {problems}")
        if result.rejected_count > show_errors:
            self.stdout.write(f"  ... and {result.rejected_count - show_errors} more rejected")
