"""Reads: model endpoints, evaluations and their per-call results, and the calls a task's test split may
be drawn from."""

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.paginator import Page as DjangoPage
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.calls.models import Call
from apps.common.errors import DomainError, NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation, EvaluationResult, ModelEndpoint, TaskTestSplit
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists import selectors as specialists
from apps.specialists.models import TrainingDataset

# --- endpoints ----------------------------------------------------------------------------------------


def endpoint_list(*, project: Project) -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(project=project)


def endpoint_get(*, project: Project, endpoint_id: Any, field: str | None = None) -> ModelEndpoint:
    uid = as_uuid(endpoint_id)
    endpoint = endpoint_list(project=project).filter(id=uid).first() if uid else None
    if endpoint is None:
        raise NotFound("No such model endpoint in this project", field=field)
    return endpoint


# --- the test split -----------------------------------------------------------------------------------


def test_split_hash(call_ids: Iterable[Any]) -> str:
    """sha256 of the sorted call ids, one a line: equal hashes, same test calls."""
    return hashlib.sha256("".join(f"{call_id}\n" for call_id in sorted(map(str, call_ids))).encode()).hexdigest()


def call_unit(call_id: Any) -> float:
    """A number in [0, 1) fixed by the call id: which calls a sampled test split takes, and their order."""
    return int(hashlib.sha256(f"test-split\0{call_id}".encode()).hexdigest()[:16], 16) / 2**64


def test_split_get(*, cluster: TaskCluster) -> TaskTestSplit | None:
    return TaskTestSplit.objects.filter(cluster=cluster).first()


def test_split_source(*, cluster: TaskCluster) -> TrainingDataset | None:
    """The dataset whose test split froze the task's for training, if one was built: the task's earliest
    built dataset with test calls (the rule of apps.specialists.selectors.frozen_test_source)."""
    built = TrainingDataset.objects.filter(cluster=cluster, status=JobStatus.SUCCEEDED, test_count__gt=0)
    return built.order_by("created_at").first()


def test_split_pool(*, cluster: TaskCluster, source: TrainingDataset | None) -> list[UUID]:
    """The ids a test split is drawn from: the source dataset's test calls, else the task's trainable,
    answered calls (the ones a dataset may hold)."""
    calls = specialists.frozen_test_calls(source=source) if source else specialists.dataset_calls(cluster=cluster)
    return list(calls.values_list("id", flat=True))


def test_calls_exist(*, cluster: TaskCluster) -> bool:
    """Whether the task has calls to test on (its frozen split, or calls to draw one from)."""
    split = test_split_get(cluster=cluster)
    if split is not None:
        return Call.objects.filter(id__in=split.call_ids).exists()
    return specialists.dataset_calls(cluster=cluster).exists()


def test_calls(*, ids: list[UUID]) -> list[Call]:
    """The calls with these ids, in that order; deleted ones are left out."""
    found = {
        call.id: call
        for call in Call.objects.filter(id__in=ids).only("id", "request", "response", "cost", "latency_ms")
    }
    return [found[uid] for uid in ids if uid in found]


# --- evaluations --------------------------------------------------------------------------------------


def evaluation_queryset(*, project: Project) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(project=project).select_related("cluster", "endpoint", "base_model")


def evaluation_get(*, project: Project, evaluation_id: Any) -> Evaluation:
    uid = as_uuid(evaluation_id)
    evaluation = evaluation_queryset(project=project).filter(id=uid).first() if uid else None
    if evaluation is None:
        raise NotFound("No such evaluation in this project")
    return evaluation


def evaluation_find(*, evaluation_id: UUID | str) -> Evaluation | None:
    """By id alone, for the job that runs it."""
    uid = as_uuid(evaluation_id)
    if uid is None:
        return None
    return Evaluation.objects.select_related("cluster", "endpoint", "project").filter(id=uid).first()


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise DomainError("The cursor is not one this API gave out", field="cursor") from exc


def evaluation_list(
    *, project: Project, cluster: TaskCluster | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """Newest first, keyset-paginated on (created_at, id)."""
    evaluations = evaluation_queryset(project=project)
    if cluster is not None:
        evaluations = evaluations.filter(cluster=cluster)
    if cursor:
        last_id = as_uuid(_decode(cursor))
        last = evaluations.filter(id=last_id).values_list("created_at", flat=True).first() if last_id else None
        if last is None:
            raise DomainError("The cursor is not one this API gave out", field="cursor")
        evaluations = evaluations.filter(Q(created_at__lt=last) | Q(created_at=last, id__lt=last_id))
    items = list(evaluations.order_by("-created_at", "-id")[: limit + 1])
    next_cursor = _encode(str(items[limit - 1].id)) if len(items) > limit else None
    return Page(items=items[:limit], next_cursor=next_cursor)


def evaluation_results(
    *, evaluation: Evaluation, agree: bool | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """The evaluation's scored calls in the order they were scored, keyset-paginated; `agree` filters."""
    results = EvaluationResult.objects.filter(evaluation=evaluation)
    if agree is not None:
        results = results.filter(agree=agree)
    if cursor:
        after = _decode(cursor)
        if not after.isdigit():
            raise DomainError("The cursor is not one this API gave out", field="cursor")
        results = results.filter(id__gt=int(after))
    items = list(results.order_by("id")[: limit + 1])
    next_cursor = _encode(str(items[limit - 1].id)) if len(items) > limit else None
    return Page(items=items[:limit], next_cursor=next_cursor)


def evaluation_scored_call_ids(*, evaluation: Evaluation) -> set[UUID]:
    return set(EvaluationResult.objects.filter(evaluation=evaluation).values_list("call_id", flat=True))


def evaluation_all_results(*, evaluation: Evaluation) -> list[EvaluationResult]:
    """Every stored result (at most EVALUATION_TEST_CALLS of them), for the summary."""
    return list(EvaluationResult.objects.filter(evaluation=evaluation).order_by("id"))


# --- the report page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """What was evaluated, in words: `name` for lists, `detail` for a second line."""

    kind: str
    name: str
    detail: str


def evaluation_candidate(evaluation: Evaluation) -> Candidate:
    if evaluation.endpoint_id and evaluation.endpoint is not None:
        endpoint = evaluation.endpoint
        return Candidate("endpoint", endpoint.name, f"{endpoint.model} at an OpenAI-compatible endpoint")
    if evaluation.training_run_id and evaluation.training_run is not None:
        run = evaluation.training_run
        base = run.base_model.name if run.base_model else "MiniLM"
        method = {"lora": "LoRA", "qlora": "QLoRA"}.get(run.method, run.method or "LoRA")
        what = "classifier" if run.kind == "classifier" else f"{method} specialist"
        return Candidate("training_run", f"{base} {what}", f"training run {str(run.id)[:8]}")
    if evaluation.base_model is not None:
        shots = evaluation.shots or 0
        return Candidate(
            "base_model",
            f"{evaluation.base_model.name}, {'zero' if not shots else shots}-shot",
            f"{evaluation.base_model.hf_id} as it is, {shots} example{'' if shots == 1 else 's'} in the prompt",
        )
    return Candidate(evaluation.candidate_kind, "Unknown candidate", "")


def task_evaluations(*, cluster: TaskCluster) -> list[Evaluation]:
    """Every evaluation of the task, newest first, with its candidate."""
    evaluations = Evaluation.objects.filter(cluster=cluster).select_related(
        "endpoint", "base_model", "training_run", "training_run__base_model"
    )
    return list(evaluations.order_by("-created_at", "-id"))


def evaluation_result_page(
    *,
    evaluation: Evaluation,
    agree: bool | None = None,
    group: str = "",
    page: int | str | None = 1,
    per_page: int = 10,
) -> DjangoPage[EvaluationResult]:
    """One page of the evaluation's scored calls, in the order they were scored, with each call's preview;
    `agree` filters on agreement, `group` on one failure group (CallScore.details["failures"]); a page out
    of range is the last one."""
    results = (
        EvaluationResult.objects.filter(evaluation=evaluation)
        .select_related("call")
        .defer(
            "call__request", "call__response", "call__metadata", "call__minhash", "call__near_keys", "call__task_keys"
        )
    )
    if agree is not None:
        results = results.filter(agree=agree)
    if group:
        results = results.filter(details__failures__contains=[group])
    return Paginator(results.order_by("id"), per_page).get_page(page)


def task_calls_recent(*, cluster: TaskCluster, days: int = 30) -> int:
    """The task's calls in the last `days` days: its current traffic."""
    since = timezone.now() - timedelta(days=days)
    return Call.objects.filter(project_id=cluster.project_id, task_cluster=cluster, timestamp__gte=since).count()


@dataclass(frozen=True)
class Saving:
    """What moving the task's traffic to the candidate would save a month, in USD: the calls of the last
    30 days x (the LLM's cost - the candidate's cost) per call. Negative: the candidate costs more. None
    when either cost is not known."""

    calls: int
    per_call: Decimal | None
    per_month: Decimal | None


def projected_saving(*, evaluation: Evaluation, calls: int) -> Saving:
    llm, candidate = evaluation.llm_cost_per_1k_calls, evaluation.cost_per_1k_calls
    if llm is None or candidate is None:
        return Saving(calls=calls, per_call=None, per_month=None)
    per_call = (llm - candidate) / 1000
    return Saving(calls=calls, per_call=per_call, per_month=per_call * calls)
