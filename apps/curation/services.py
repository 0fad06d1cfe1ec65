"""Curation: redaction before storage under the project's policy, training eligibility, re-scans.

Every ingest path (REST, NDJSON, uploads, import_calls) calls curate_rows, then duplicates_mark in
the transaction that stores the rows.
"""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from apps.calls.ingest import CallRow, preview_of
from apps.calls.models import Call
from apps.common.errors import Conflict, DomainError
from apps.curation import eligibility
from apps.curation.models import CurationPolicy, NearDuplicateKey, Operator, RescanJob
from apps.curation.pii import DEFAULT_THRESHOLD, ENTITY_TYPES, OFF_BY_DEFAULT_TYPES
from apps.curation.scanner import CallTexts, CustomPattern, PiiScanner, PolicySpec, Tally
from apps.curation.selectors import curation_policy_get, stale_call_count
from apps.jobs import services as jobs
from apps.projects.models import Project

# Types a policy can switch; the last three are found only by an NER model (the pattern engine has none).
POLICY_TYPES = (*ENTITY_TYPES, "LOCATION", "NRP", "ORGANIZATION")
NER_ONLY_TYPES = frozenset({"LOCATION", "NRP", "ORGANIZATION"})
OFF_BY_DEFAULT = frozenset({"ORGANIZATION", *OFF_BY_DEFAULT_TYPES})
CUSTOM_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")
RESCAN_BATCH = 500


@dataclass
class PolicyChange:
    """A policy as a person submitted it (validated by the form, checked again here)."""

    entities: dict[str, tuple[bool, float]]
    allow_list: list[str]
    custom: list[CustomPattern]
    operator: str
    ner_model_path: str  # a package name or a folder's path; "" or "none" for the pattern engine alone
    max_call_tokens: int


def policy_entities(policy: CurationPolicy) -> dict[str, dict[str, Any]]:
    """Every switchable type with its setting, defaults filled in."""
    out = {}
    for entity in POLICY_TYPES:
        stored = policy.entities.get(entity) or {}
        out[entity] = {
            "enabled": bool(stored.get("enabled", entity not in OFF_BY_DEFAULT)),
            "threshold": float(stored.get("threshold", DEFAULT_THRESHOLD)),
        }
    return out


def ner_model_name(value: str) -> str:
    """A policy's NER setting as stored: the model's package name or path, "" for none ("none" too)."""
    value = value.strip()
    return "" if value.lower() == "none" else value


def _spec(
    *, entities: dict[str, dict[str, Any]], allow_list: list[str], custom: list[CustomPattern], operator: str,
    key: str, ner_model: str,
) -> PolicySpec:  # fmt: skip
    ner_model = ner_model_name(ner_model)
    thresholds = {
        e: s["threshold"] for e, s in entities.items() if s["enabled"] and (e not in NER_ONLY_TYPES or ner_model)
    }
    return PolicySpec(
        thresholds=thresholds,
        allow_list=tuple(allow_list),
        custom=tuple(custom),
        operator=operator,
        key=bytes.fromhex(key),
        ner_model=ner_model,
    )


def policy_spec(policy: CurationPolicy) -> PolicySpec:
    return _spec(
        entities=policy_entities(policy),
        allow_list=list(policy.allow_list),
        custom=[CustomPattern(**c) for c in policy.custom_recognizers],
        operator=policy.operator,
        key=policy.pseudonym_key,
        ner_model=policy.ner_model_path,
    )


def custom_pattern_error(pattern: str) -> str | None:
    """Why a custom recognizer's regex cannot be used, or None."""
    if len(pattern) > 500:
        return "Keep the pattern under 500 characters."
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"Not a valid regular expression: {exc}."
    if compiled.fullmatch(""):
        return "This pattern matches empty text; it would match everywhere."
    return None


def _check(change: PolicyChange) -> None:
    if change.operator not in Operator.values:
        raise DomainError(f"Unknown operator '{change.operator}'", field="operator")
    if change.max_call_tokens < 1:
        raise DomainError("The token limit must be a positive number", field="max_call_tokens")
    for entity, (_, threshold) in change.entities.items():
        if entity not in POLICY_TYPES:
            raise DomainError(f"Unknown entity type '{entity}'", field="entities")
        if not 0.0 <= threshold <= 1.0:
            raise DomainError(f"The threshold of {entity} must be between 0 and 1", field=f"threshold_{entity}")
    for custom in change.custom:
        if custom.entity in POLICY_TYPES:
            raise DomainError(
                f"'{custom.entity}' is a built-in type; give your recognizer its own name", field="custom"
            )
        if not CUSTOM_ENTITY.match(custom.entity):
            raise DomainError(
                f"'{custom.entity}': a recognizer's type is 2-40 capital letters, digits or _", field="custom"
            )
        error = custom_pattern_error(custom.pattern)
        if error:
            raise DomainError(f"{custom.entity}: {error}", field="custom")
    if ner_model_name(change.ner_model_path):
        from apps.curation.ner import NerModelError, ner_recognizer_load

        try:
            ner_recognizer_load(ner_model_name(change.ner_model_path))
        except NerModelError as exc:
            raise DomainError(str(exc), field="ner_model_path") from exc


def policy_change_spec(*, project: Project, change: PolicyChange) -> PolicySpec:
    """The spec an unsaved change would give (the live preview)."""
    _check(change)
    policy = curation_policy_get(project=project)
    return _spec(
        entities={e: {"enabled": on, "threshold": t} for e, (on, t) in change.entities.items()},
        allow_list=change.allow_list,
        custom=change.custom,
        operator=change.operator,
        key=policy.pseudonym_key,
        ner_model=change.ner_model_path,
    )


@transaction.atomic
def curation_policy_update(*, project: Project, user: User | None, change: PolicyChange) -> CurationPolicy:
    """Save a policy change. The version goes up, so calls stored before it show as due for a re-scan."""
    _check(change)
    policy = CurationPolicy.objects.select_for_update().get(pk=curation_policy_get(project=project).pk)
    policy.entities = {e: {"enabled": on, "threshold": t} for e, (on, t) in change.entities.items()}
    policy.allow_list = [a.strip() for a in change.allow_list if a.strip()]
    policy.custom_recognizers = [{"entity": c.entity, "pattern": c.pattern, "score": c.score} for c in change.custom]
    policy.operator = change.operator
    policy.ner_model_path = ner_model_name(change.ner_model_path)
    policy.max_call_tokens = change.max_call_tokens
    policy.updated_by = user
    policy.version = F("version") + 1
    policy.save()
    policy.refresh_from_db()
    return policy


# --- the scanner each project's ingest uses -------------------------------------------------------

_scanners: dict[Any, tuple[int, PiiScanner]] = {}
_caches: dict[tuple[Any, ...], dict[bytes, Any]] = {}


def pii_scanner_get(*, policy: CurationPolicy) -> PiiScanner:
    """One scanner per project and policy version in each process. Its content-hash cache lives across
    requests and is shared by every project whose policy analyses texts the same way (a new project
    with the default policy finds the texts agents send to every project, such as common tool
    schemas, already analysed); it holds hashes, types and offsets, never text."""
    cached = _scanners.get(policy.project_id)
    if cached is not None and cached[0] == policy.version:
        return cached[1]
    spec = policy_spec(policy)
    scanner = PiiScanner(spec, cache=_caches.setdefault(spec.analysis_key(), {}))
    _scanners[policy.project_id] = (policy.version, scanner)
    return scanner


def pii_scanner_warm_up() -> None:
    """Load the engine and the default NER model and run them once, so the first ingest request does not
    pay for it (with gunicorn --preload the workers share the loaded model)."""
    scanner = PiiScanner()
    scanner.redact_text("warm-up: jane@example.com, +1 415-555-0134, Samuel Lindqvist from Lisbon", Tally())


def _merge(old: dict[str, int], new: dict[str, int]) -> dict[str, int]:
    merged = dict(old)
    for name, count in new.items():
        merged[name] = merged.get(name, 0) + count
    return merged


_prompt_key_cache: dict[bytes, tuple[str, list[int], list[int]]] = {}


def _prompt_keys(request: dict[str, Any]) -> tuple[str, list[int], list[int]]:
    """(exact hash, MinHash signature, band keys) of a request's prompt. Agents repeat prompts, so the
    work is cached by a hash of the raw messages and tools (cheap next to the MinHash)."""
    raw = hashlib.blake2b(orjson.dumps([request.get("messages"), request.get("tools")]), digest_size=16).digest()
    found = _prompt_key_cache.get(raw)
    if found is None:
        key = eligibility.prompt_key(request)
        signature = eligibility.minhash_signature(key.text)
        found = (key.exact, signature, eligibility.band_keys(signature, key.template))
        if len(_prompt_key_cache) >= 100_000:
            _prompt_key_cache.clear()
        _prompt_key_cache[raw] = found
    return found


def _texts(rows: list[CallRow]) -> list[CallTexts]:
    return [
        CallTexts(
            request=r.request, response=r.response, metadata=r.metadata, error=r.error, agent=r.agent,
            workload=r.workload,
        )
        for r in rows
    ]  # fmt: skip


def curation_text_sizes(*, project: Project, rows: list[CallRow]) -> tuple[list[int], int]:
    """How many characters of text curating these calls would analyse, per call and in all (a repeated text
    counts once): ingestion's budget, checked before any analysis."""
    scanner = pii_scanner_get(policy=curation_policy_get(project=project))
    return scanner.text_sizes(_texts(rows))


def curate_rows(*, project: Project, rows: list[CallRow], policy: CurationPolicy | None = None) -> None:
    """Redact validated calls in place, before anything is written; record what was found (by type
    and field, never values), and the per-call training rules. Duplicates need the database: see
    duplicates_mark."""
    if not rows:
        return
    policy = policy or curation_policy_get(project=project)
    scanner = pii_scanner_get(policy=policy)
    redacted = scanner.redact_calls(_texts(rows))
    for row, done in zip(rows, redacted, strict=True):
        tally = done.tally
        if tally.types:
            row.request, row.response, row.metadata, row.error = done.request, done.response, done.metadata, done.error
            row.agent, row.workload = done.agent, done.workload
            row.preview = preview_of(done.request)
        row.pii_counts = _merge(row.pii_counts, dict(tally.types))
        row.pii_fields = _merge(row.pii_fields, dict(tally.fields))
        row.curation_version = policy.version
        reason = eligibility.call_rule_reason(
            request=row.request,
            response=row.response,
            status=row.status,
            finish_reason=row.finish_reason,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            max_tokens=policy.max_call_tokens,
        )
        row.prompt_hash, row.minhash, row.near_keys = _prompt_keys(row.request)
        row.exclusion_reason, row.trainable, row.duplicate_of = reason, not reason, None


def duplicates_mark(*, project: Project, rows: list[CallRow], before: tuple[Any, Any] | None = None) -> None:
    """Flag exact and near-duplicate prompts: the first trainable call with a prompt stays trainable,
    later ones point to it. Runs in the storing transaction under a per-project lock, so two
    concurrent batches cannot both keep a copy. `before`: only stored calls earlier than this
    (received_at, id) count (a re-scan walks calls in that order)."""
    candidates = [r for r in rows if not r.exclusion_reason]
    if not candidates:
        return
    hashes = list({r.prompt_hash for r in candidates})
    mine = {r.id for r in rows}
    # Two btree lookups (the prompt hash on calls, the band keys on their own table), never a scan.
    # Near-duplicate candidates (and their signatures) are read only for prompts with no exact match.
    earlier = " AND (received_at, id) < (%s, %s)" if before is not None else ""
    exact: dict[str, Any] = {}
    index: eligibility.NearDuplicateIndex[Any] = eligibility.NearDuplicateIndex()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('curation:' || %s))", [str(project.id)])
        cursor.execute(
            "SELECT id, prompt_hash FROM calls_call"
            f" WHERE project_id = %s AND prompt_hash = ANY(%s) AND exclusion_reason = ''{earlier}",
            [project.id, hashes, *(before or ())],
        )
        for call_id, prompt_hash in cursor.fetchall():
            if call_id not in mine:
                exact.setdefault(prompt_hash, call_id)
        keys = list({k for r in candidates if r.prompt_hash not in exact for k in (r.near_keys or [])})
        if keys:
            cursor.execute(
                # The candidates first, once (MATERIALIZED): planned the other way round, with a young
                # table's statistics (a handful of rows), Postgres scanned the band keys once per stored
                # call: 0.6 s a batch of 250 new calls after 3,000 (bench/ingest, cold).
                f"WITH candidates AS MATERIALIZED (SELECT DISTINCT call_id FROM {NearDuplicateKey._meta.db_table}"
                " WHERE project_id = %s AND key = ANY(%s))"
                " SELECT id, minhash, near_keys FROM candidates JOIN calls_call ON id = call_id"
                f" WHERE exclusion_reason = ''{earlier}",
                [project.id, keys, *(before or ())],
            )
            for call_id, minhash, near_keys in cursor.fetchall():
                if call_id not in mine and minhash and near_keys:
                    index.add(call_id, minhash, near_keys)
    for row in candidates:
        original = exact.get(row.prompt_hash)
        reason = eligibility.DUPLICATE
        if original is None and row.minhash and row.near_keys:
            original, reason = index.match(row.minhash, row.near_keys), eligibility.NEAR_DUPLICATE
        if original is not None:
            row.trainable, row.exclusion_reason, row.duplicate_of = False, reason, original
            continue
        exact[row.prompt_hash] = row.id
        if row.minhash and row.near_keys:
            index.add(row.id, row.minhash, row.near_keys)


def near_duplicate_keys_replace(*, call_ids: list[Any]) -> None:
    """Index the band keys of these calls again: a call that is not trainable is no near-duplicate
    candidate, so it has none."""
    table = NearDuplicateKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE call_id = ANY(%s)", [call_ids])
        cursor.execute(
            f"INSERT INTO {table} (project_id, call_id, key) SELECT project_id, id, unnest(near_keys) FROM calls_call"
            " WHERE id = ANY(%s) AND exclusion_reason = '' AND near_keys IS NOT NULL",
            [call_ids],
        )


# --- re-scan ---------------------------------------------------------------------------------------


@transaction.atomic
def rescan_job_create(*, project: Project, created_by: User | None) -> RescanJob:
    """Queue a re-scan of the calls stored under an older policy. One at a time per project (a partial
    unique constraint, so two concurrent requests cannot both start one)."""
    policy = curation_policy_get(project=project)
    try:
        with transaction.atomic():
            job = RescanJob.objects.create(
                project=project,
                policy_version=policy.version,
                total=stale_call_count(project=project, policy=policy),
                created_by=created_by,
                stage="queued",
                message="Waiting for a worker on the cpu queue",
            )
    except IntegrityError:
        raise Conflict("A re-scan is already running for this project", field="rescan") from None
    jobs.job_enqueue(job=job)
    return job


def _row_of(call: Call) -> CallRow:
    return CallRow(
        id=call.id, dedupe_key=call.dedupe_key, client_id=call.client_id, agent=call.agent, workload=call.workload,
        model=call.model, timestamp=call.timestamp, request=call.request, response=call.response,
        finish_reason=call.finish_reason, status=call.status, error=call.error, latency_ms=call.latency_ms,
        ttft_ms=call.ttft_ms, prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
        trace_id=call.trace_id, span_id=call.span_id, parent_span_id=call.parent_span_id, metadata=call.metadata,
        preview=call.preview, pii_counts=dict(call.pii_counts), pii_fields=dict(call.pii_fields),
    )  # fmt: skip


_RESCANNED = (
    "request", "response", "metadata", "error", "agent", "workload", "preview", "pii_counts", "pii_fields",
    "curation_version", "trainable", "exclusion_reason", "duplicate_of", "prompt_hash", "minhash", "near_keys",
)  # fmt: skip
_COMPARED = ("request", "response", "metadata", "error", "agent", "workload", "trainable", "exclusion_reason")


def _rescan_batch(*, project: Project, policy: CurationPolicy, calls: list[Call]) -> int:
    """Re-curate calls (in received order) and write them back; returns how many changed."""
    rows = [_row_of(c) for c in calls]
    curate_rows(project=project, rows=rows, policy=policy)
    duplicates_mark(project=project, rows=rows, before=(calls[0].received_at, calls[0].id))
    changed = 0
    for call, row in zip(calls, rows, strict=True):
        before = [getattr(call, name) for name in _COMPARED]
        for name in _RESCANNED:
            setattr(call, name, getattr(row, name))
        changed += before != [getattr(call, name) for name in _COMPARED]
    Call.objects.bulk_update(calls, list(_RESCANNED))
    near_duplicate_keys_replace(call_ids=[c.id for c in calls])
    return changed


def rescan_job_run(*, job_id: str) -> None:
    jobs.job_run(model=RescanJob, job_id=job_id, execute=_rescan_job_execute)


def _rescan_job_execute(job: RescanJob) -> None:
    project = Project.objects.get(id=job.project_id)
    policy = curation_policy_get(project=project)
    if policy.version != job.policy_version:  # the policy changed again since: apply the newest
        job.policy_version = policy.version
        job.total = job.done + stale_call_count(project=project, policy=policy)
        RescanJob.objects.filter(id=job.id).update(policy_version=job.policy_version, total=job.total)
    stale = Call.objects.filter(project=project, curation_version__lt=policy.version).order_by("received_at", "id")
    try:
        while True:
            with transaction.atomic():
                calls = list(stale.select_for_update(skip_locked=True)[:RESCAN_BATCH])
                if not calls:
                    break
                changed = _rescan_batch(project=project, policy=policy, calls=calls)
                done, total = job.done + len(calls), max(job.total, job.done + len(calls))
                going = jobs.job_progress(
                    job=job,
                    fraction=done / total,
                    stage="re-scanning",
                    message=f"{done:,} of {total:,} calls re-scanned, {job.changed + changed:,} changed",
                    done=done,
                    total=total,
                    changed=job.changed + changed,
                )
            if not going:
                jobs.job_cancelled(job=job)
                return
    except Exception as exc:
        jobs.job_fail(job=job, error=f"The re-scan stopped: {exc}")
        raise
    jobs.job_succeed(job=job, message=f"{job.done:,} calls re-scanned, {job.changed:,} changed")


def rescan_job_cancel(*, job: RescanJob) -> RescanJob:
    result = jobs.job_request_cancel(job=job)
    assert isinstance(result, RescanJob)
    return result
