import gzip
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

import orjson
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.calls.ingest import Batch, CallRow, RecordErrors, rejection, validate_record
from apps.calls.models import Call, ImportJob, ModelPrice, RepriceJob
from apps.calls.signals import call_costs_changed, calls_stored
from apps.common.errors import DomainError, TooLarge
from apps.curation.models import NearDuplicateKey
from apps.curation.services import curate_rows, curation_text_sizes, duplicates_mark
from apps.jobs import services as jobs
from apps.projects.models import Project

IMPORT_BATCH = 1000
MAX_KEPT_REJECTIONS = 1000


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0
    ignored_fields: set[str] = field(default_factory=set)

    def add(self, other: "IngestResult", *, offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected_count += other.rejected_count
        room = MAX_KEPT_REJECTIONS - len(self.rejected)
        self.rejected.extend({**r, "index": r["index"] + offset} for r in other.rejected[: max(room, 0)])
        self.ignored_fields |= other.ignored_fields


class PriceBook:
    """The price table, looked up by exact name, else the longest name the model starts with."""

    def __init__(self) -> None:
        self.prices = {p.model: (p.input_per_mtok, p.output_per_mtok) for p in ModelPrice.objects.all()}
        self._cache: dict[str, tuple[Decimal, Decimal] | None] = {}

    def price(self, model: str) -> tuple[Decimal, Decimal] | None:
        if model not in self._cache:
            match = self.prices.get(model)
            if match is None:
                prefixes = [name for name in self.prices if model.startswith(name)]
                match = self.prices[max(prefixes, key=len)] if prefixes else None
            self._cache[model] = match
        return self._cache[model]

    def cost(self, model: str, prompt_tokens: int | None, completion_tokens: int | None) -> Decimal | None:
        price = self.price(model)
        if price is None or (prompt_tokens is None and completion_tokens is None):
            return None
        return ((prompt_tokens or 0) * price[0] + (completion_tokens or 0) * price[1]) / Decimal(1_000_000)


_COLUMNS = (
    "id, project_id, dedupe_key, client_id, agent, workload, model, timestamp, received_at, request, response, "
    "finish_reason, status, error, latency_ms, ttft_ms, prompt_tokens, completion_tokens, cost, trace_id, span_id, "
    "parent_span_id, metadata, preview, pii_counts, pii_fields, curation_version, trainable, exclusion_reason, "
    "duplicate_of, prompt_hash, minhash, near_keys"
)


_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _dump(value: Any) -> str | None:
    """JSON text for a jsonb column. Postgres refuses NUL even escaped (\\u0000), so it is dropped."""
    if value is None:
        return None
    text = orjson.dumps(value).decode()
    return _ESCAPED_NUL.sub(r"\1", text) if "\\u0000" in text else text


def _array(values: list[int] | None) -> str | None:
    """A Postgres array literal for COPY (psycopg's list dumper is several times slower)."""
    return None if values is None else "{" + ",".join(map(str, values)) + "}"


def _clean(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def copy_values(r: CallRow, *, project_id: Any, now: datetime, prices: PriceBook) -> tuple[Any, ...]:
    """One row of calls_call, in the order of _COLUMNS."""
    return (
        r.id, project_id, r.dedupe_key, r.client_id, r.agent, r.workload, r.model, r.timestamp, now,
        _dump(r.request), _dump(r.response), r.finish_reason, r.status, _clean(r.error), r.latency_ms,
        r.ttft_ms, r.prompt_tokens, r.completion_tokens, prices.cost(r.model, r.prompt_tokens, r.completion_tokens),
        r.trace_id, r.span_id, r.parent_span_id, _dump(r.metadata), _clean(r.preview), _dump(r.pii_counts),
        _dump(r.pii_fields), r.curation_version, r.trainable, r.exclusion_reason, r.duplicate_of, r.prompt_hash,
        _array(r.minhash), _array(r.near_keys),
    )  # fmt: skip


def _insert_rows(project: Project, rows: list[CallRow], prices: PriceBook) -> int:
    """COPY rows into a session-local staging table, then move them across with ON CONFLICT DO NOTHING:
    bulk speed, and the unique (project, dedupe_key) constraint keeps retries and concurrent
    repeats from storing a call twice. Returns how many rows were stored."""
    if not rows:
        return 0
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS call_staging (LIKE calls_call INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY call_staging ({_COLUMNS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(copy_values(r, project_id=project.id, now=now, prices=prices))
        # The stored calls' near-duplicate band keys go to their own table in the same statement.
        cursor.execute(
            f"WITH stored AS (INSERT INTO calls_call ({_COLUMNS}) SELECT {_COLUMNS} FROM call_staging"
            " ON CONFLICT (project_id, dedupe_key) DO NOTHING RETURNING id, project_id, near_keys, exclusion_reason),"
            f" keys AS (INSERT INTO {NearDuplicateKey._meta.db_table} (project_id, call_id, key)"
            "  SELECT project_id, id, unnest(near_keys) FROM stored WHERE exclusion_reason = '')"
            " SELECT count(*) FROM stored"
        )
        row = cursor.fetchone()
        stored = int(row[0]) if row else 0
        cursor.execute("DELETE FROM call_staging")
    return stored


def _stored_keys(project: Project, rows: list[CallRow]) -> set[str]:
    keys = [r.dedupe_key for r in rows]
    return set(Call.objects.filter(project=project, dedupe_key__in=keys).values_list("dedupe_key", flat=True))


def _over_budget(
    project: Project, new: list[tuple[int, CallRow]], result: IngestResult, *, refuse: bool
) -> list[tuple[int, CallRow]]:
    """The calls within the text budget (settings.INGEST_MAX_CALL_TEXT_CHARS, _REQUEST_TEXT_CHARS). With
    `refuse`, a call or a request over it raises TooLarge (413) before anything is analysed; without, a call
    over it is rejected on its own."""
    per_call, total = curation_text_sizes(project=project, rows=[r for _, r in new])
    limit = settings.INGEST_MAX_CALL_TEXT_CHARS
    kept = []
    for (index, row), size in zip(new, per_call, strict=True):
        if size <= limit:
            kept.append((index, row))
            continue
        message = (
            f"has {size:,} characters of text to scan for personal data, over the limit of {limit:,} a call "
            "(INGEST_MAX_CALL_TEXT_CHARS); shorten it or leave it out"
        )
        if refuse:
            where = f"Call {index}{_named(row)}"
            raise TooLarge(f"{where} {message}; nothing in this request was stored", field=f"calls[{index}]")
        result.rejected.append(rejection(index, row.client_id, [{"field": "call", "message": message}]))
        result.rejected_count += 1
    request_limit = settings.INGEST_MAX_REQUEST_TEXT_CHARS
    if refuse and total > request_limit:
        raise TooLarge(
            f"This request has {total:,} characters of new text to scan for personal data, over the limit of "
            f"{request_limit:,} a request (INGEST_MAX_REQUEST_TEXT_CHARS); nothing was stored: send the calls in "
            "smaller batches",
            field="calls",
        )
    return kept


def _named(row: CallRow) -> str:
    return f" (id {row.client_id!r})" if row.client_id else ""


def calls_ingest(
    *, project: Project, batch: Batch, prices: PriceBook | None = None, refuse_over_budget: bool = False
) -> IngestResult:
    """Validate each record; store the valid ones once each (retries and concurrent repeats are duplicates).
    A call already stored (a retry) costs one indexed lookup: it is not scanned again. refuse_over_budget:
    the API's choice, a call or batch over the text budget refuses the whole request (see _over_budget)."""
    result = IngestResult(rejected=list(batch.broken), rejected_count=len(batch.broken))
    now = timezone.now()
    valid: list[tuple[int, CallRow]] = []
    for index, raw in batch.records:
        try:
            valid.append((index, validate_record(raw, now=now, ignored=result.ignored_fields)))
        except RecordErrors as exc:
            client_id = raw.get("id") if isinstance(raw, dict) else None
            result.rejected.append(rejection(index, client_id, exc.errors))
            result.rejected_count += 1
    # Repeats (within the batch, or of calls stored before) are duplicates before any work is spent on them.
    stored = _stored_keys(project, [r for _, r in valid])
    new: list[tuple[int, CallRow]] = []
    for index, row in valid:
        if row.dedupe_key not in stored:
            stored.add(row.dedupe_key)
            new.append((index, row))
    repeats = len(valid) - len(new)
    new = _over_budget(project, new, result, refuse=refuse_over_budget)
    result.rejected.sort(key=lambda r: r["index"])
    rows = [r for _, r in new]
    curate_rows(project=project, rows=rows)
    with transaction.atomic():
        duplicates_mark(project=project, rows=rows)
        result.accepted = _insert_rows(project, rows, prices or PriceBook())
        if result.accepted:
            transaction.on_commit(lambda: calls_stored.send(sender=Call, project_id=project.id))
    result.duplicates = repeats + len(rows) - result.accepted  # stored meanwhile by a concurrent request
    return result


def call_costs_recompute(*, model_price: ModelPrice) -> int:
    """Re-price the stored calls of the models this price covers (after an admin edits the table)."""
    prices = PriceBook()
    updated = 0
    candidates = Call.objects.filter(model__startswith=model_price.model).values_list("model", flat=True).distinct()
    for model in candidates:
        price = prices.price(model)
        if price is None:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE calls_call SET cost = (coalesce(prompt_tokens, 0) * %s + coalesce(completion_tokens, 0) * %s)"
                " / 1000000.0 WHERE model = %s AND (prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL)",
                [price[0], price[1], model],
            )
            updated += cursor.rowcount
    return updated


@transaction.atomic
def reprice_job_create(*, model_prices: list[ModelPrice], created_by: User | None) -> RepriceJob:
    """Queue a re-pricing of the stored calls these prices cover: a job, never work inside the request."""
    job = RepriceJob.objects.create(
        prefixes=sorted({price.model for price in model_prices}),
        created_by=created_by,
        stage="queued",
        message="Waiting for a worker on the cpu queue",
    )
    jobs.job_enqueue(job=job)
    return job


def reprice_job_run(*, job_id: str) -> None:
    """Re-price model by model. Safe to run again: the same prices give the same costs."""
    jobs.job_run(model=RepriceJob, job_id=job_id, execute=_reprice_job_execute)


def _reprice_job_execute(job: RepriceJob) -> None:
    updated = 0
    try:
        for number, prefix in enumerate(job.prefixes):
            price = ModelPrice.objects.filter(model=prefix).first()
            if price is not None:
                updated += call_costs_recompute(model_price=price)
            going = jobs.job_progress(
                job=job,
                fraction=(number + 1) / len(job.prefixes),
                stage="re-pricing",
                message=f"{updated:,} calls re-priced ({number + 1} of {len(job.prefixes)} prices)",
                updated=updated,
            )
            if not going:
                jobs.job_cancelled(job=job)
                return
    except Exception as exc:
        jobs.job_fail(job=job, error=f"Re-pricing stopped: {exc}")
        raise
    if jobs.job_succeed(job=job, message=f"{updated:,} stored calls re-priced", updated=updated):
        covered = Q()
        for prefix in job.prefixes:
            covered |= Q(model__startswith=prefix)
        project_ids = list(Call.objects.filter(covered).values_list("project_id", flat=True).distinct())
        call_costs_changed.send(sender=RepriceJob, project_ids=project_ids)


# --- JSONL files: the upload job and the import_calls command share this path -------------------


def _open_jsonl(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    stream = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    return cast(IO[bytes], stream)


def iter_jsonl_batches(stream: IO[bytes], *, size: int | None = None) -> Iterator[tuple[int, Batch]]:
    """Yield (index of the batch's first line, Batch) for a JSONL stream; blank lines are skipped."""
    size = size or IMPORT_BATCH
    batch = Batch()
    start = index = 0
    for line in stream:
        if not line.strip():
            continue
        if len(line) > settings.INGEST_MAX_BYTES:
            megabytes = settings.INGEST_MAX_BYTES // (1024 * 1024)
            message = f"is {len(line) / (1024 * 1024):.1f} MB; a call can be at most {megabytes} MB, as in the API"
            batch.broken.append(rejection(index - start, None, [{"field": "line", "message": message}]))
        else:
            try:
                batch.records.append((index - start, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                batch.broken.append(
                    rejection(index - start, None, [{"field": "line", "message": f"not valid JSON: {exc}"}])
                )
        index += 1
        if index - start >= size:
            yield start, batch
            batch, start = Batch(), index
    if batch.records or batch.broken:
        yield start, batch


def calls_import_file(
    *,
    project: Project,
    path: Path,
    start_line: int = 0,
    progress: Callable[[IngestResult, int, int], bool] | None = None,
) -> IngestResult:
    """Import a JSONL (optionally gzipped) file in batches. `progress(total, lines_done, bytes_done)`
    returning False stops the import early (cancellation)."""
    total = IngestResult()
    prices = PriceBook()
    with _open_jsonl(path) as stream:
        for first, batch in iter_jsonl_batches(stream):
            lines = len(batch.records) + len(batch.broken)
            if first + lines <= start_line:
                continue
            total.add(calls_ingest(project=project, batch=batch, prices=prices), offset=first)
            position = _read_position(stream)
            if progress is not None and not progress(total, first + lines, position):
                break
    return total


def _read_position(stream: IO[bytes]) -> int:
    """How far into the file on disk we are (the compressed offset for gzip)."""
    inner = getattr(stream, "fileobj", None)
    return int(inner.tell()) if inner is not None else int(stream.tell())


@transaction.atomic
def import_job_create(
    *, project: Project, upload: UploadedFile | IO[bytes], filename: str, created_by: User | None
) -> ImportJob:
    """Save the uploaded file under a path keyed by the job and enqueue the import after commit."""
    size = getattr(upload, "size", None)
    if size is not None and size > settings.UPLOAD_MAX_BYTES:
        raise TooLarge(
            f"The file is over the upload limit of {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB", field="file"
        )
    if not filename.endswith((".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".gz")):
        raise DomainError("Upload a .jsonl file (gzip is fine): one call per line", field="file")
    job = ImportJob.objects.create(
        project=project,
        filename=filename[:255],
        path="",
        created_by=created_by,
        stage="queued",
        message="Waiting for a worker",
    )
    target = Path(settings.UPLOAD_DIR) / f"{job.id}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        if isinstance(upload, UploadedFile):
            for chunk in upload.chunks():
                out.write(chunk)
        else:
            shutil.copyfileobj(upload, out)
    job.path = str(target)
    job.size_bytes = target.stat().st_size
    job.save(update_fields=["path", "size_bytes"])
    jobs.job_enqueue(job=job)
    return job


def import_job_run(*, job_id: str) -> None:
    """Run an import job. Safe to re-deliver: it resumes after the last batch it recorded,
    and re-sent calls are duplicates, never stored twice."""
    jobs.job_run(model=ImportJob, job_id=job_id, execute=_import_job_execute)


def _import_job_execute(job: ImportJob) -> None:
    project = Project.objects.get(id=job.project_id)
    state = IngestResult(
        accepted=job.accepted,
        duplicates=job.duplicates,
        rejected=list(job.rejected),
        rejected_count=job.rejected_count,
        ignored_fields=set(job.ignored_fields),
    )
    path = Path(job.path)
    if not path.exists():
        jobs.job_fail(job=job, error="The uploaded file is gone from the server; upload it again.")
        return

    def report(total: IngestResult, lines_done: int, bytes_done: int) -> bool:
        merged = IngestResult(
            accepted=state.accepted,
            duplicates=state.duplicates,
            rejected=list(state.rejected),
            rejected_count=state.rejected_count,
            ignored_fields=set(state.ignored_fields),
        )
        merged.add(total)
        fraction = bytes_done / job.size_bytes if job.size_bytes else 1.0
        return jobs.job_progress(
            job=job,
            fraction=min(fraction, 0.999),
            stage="importing",
            message=f"{lines_done:,} lines read: {merged.accepted:,} stored, {merged.duplicates:,} duplicates, "
            f"{merged.rejected_count:,} rejected",
            lines_done=lines_done,
            bytes_done=bytes_done,
            accepted=merged.accepted,
            duplicates=merged.duplicates,
            rejected_count=merged.rejected_count,
            rejected=merged.rejected,
            ignored_fields=sorted(merged.ignored_fields),
        )

    stopped = False

    def report_or_stop(total: IngestResult, lines_done: int, bytes_done: int) -> bool:
        nonlocal stopped
        going = report(total, lines_done, bytes_done)
        stopped = stopped or not going
        return going

    try:
        if jobs.job_progress(job=job, fraction=job.progress, stage="importing", message="Reading the file"):
            calls_import_file(project=project, path=path, start_line=job.lines_done, progress=report_or_stop)
        else:
            stopped = True
    except Exception as exc:
        jobs.job_fail(job=job, error=f"The import stopped: {exc}")
        raise
    if stopped:  # cancelled (or lost to another worker, whose row this one must leave alone)
        jobs.job_cancelled(job=job)
        return
    _import_job_finish(job)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _import_job_finish(job: ImportJob) -> None:
    """An import that stored nothing new is not a success unless every call was already stored."""
    summary = f"{_count(job.accepted, 'call')} stored, {job.duplicates:,} duplicates, {job.rejected_count:,} rejected"
    if job.accepted == 0 and job.duplicates == 0:
        if job.rejected_count:
            error = f"No call was stored: {_count(job.rejected_count, 'line')} rejected (see the errors below)"
        else:
            error = "No call was stored: the file holds no calls (one JSON object per line)"
        jobs.job_fail(job=job, error=error, progress=1.0, message=summary)
    elif job.accepted == 0 and not job.rejected_count:
        jobs.job_succeed(job=job, message=f"Nothing new: {_count(job.duplicates, 'call')} already stored")
    else:
        jobs.job_succeed(job=job, message=summary)


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    result = jobs.job_request_cancel(job=job)
    assert isinstance(result, ImportJob)
    return result
