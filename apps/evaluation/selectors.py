"""Reads: model endpoints, a task's scoring settings, evaluations and their per-call results, and the calls a
task's test split may be drawn from."""

import base64
import fnmatch
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.paginator import Page as DjangoPage
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.calls.models import Call
from apps.common.errors import DomainError, NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import TaskCluster
from apps.discovery.texts import OutputKind
from apps.evaluation.models import Evaluation, EvaluationResult, ModelEndpoint, TaskScoring, TaskTestSplit, TextMetric
from apps.evaluation.scoring import KIND_ALIASES, TEXT
from apps.evaluation.scoring.text import threshold_of
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists import selectors as specialists
from apps.specialists.models import CatalogModel, SpecialistKind, TrainingDataset, TrainingRun

# --- endpoints ----------------------------------------------------------------------------------------


def endpoint_list(*, project: Project) -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(project=project)


def endpoint_get(*, project: Project, endpoint_id: Any, field: str | None = None) -> ModelEndpoint:
    uid = as_uuid(endpoint_id)
    endpoint = endpoint_list(project=project).filter(id=uid).first() if uid else None
    if endpoint is None:
        raise NotFound("No such model endpoint in this project", field=field)
    return endpoint


def _specificity(pattern: str, model_name: str) -> tuple[int, int] | None:
    """How closely a pattern names a model: None when it does not match; an exact name (no wildcard) beats
    every pattern; among patterns, the one with more literal characters ("gpt-4o-mini*" over "gpt-4o*" over
    "*")."""
    if not fnmatch.fnmatchcase(model_name, pattern):
        return None
    if not any(char in pattern for char in "*?["):
        return (1, len(pattern))
    return (0, len(re.sub(r"\[[^\]]*\]|[*?]", "", pattern)))


def upstream_for(*, project: Project, model_name: str) -> ModelEndpoint | None:
    """The upstream endpoint (LLM provider) that serves `model_name`: the one whose best-matching pattern is
    the most specific (_specificity; matching is case-sensitive). Ties go to the endpoint added first (then by
    name), so adding an endpoint never silently takes over a model another one already served as well."""
    best: tuple[tuple[int, int], ModelEndpoint] | None = None
    for endpoint in endpoint_list(project=project).filter(upstream=True).order_by("created_at", "name"):
        ranks = [rank for pattern in endpoint.models if (rank := _specificity(pattern, model_name)) is not None]
        if ranks and (best is None or max(ranks) > best[0]):
            best = (max(ranks), endpoint)
    return best[1] if best else None


# --- a task's scoring settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scoring:
    """How a task's candidates are scored, defaults filled in. `target_is_default` /
    `threshold_is_default`: the task sets no target / threshold of its own. `text_applies`: the task's
    answers are free text or code, so the text metric is what scores them."""

    target: float
    text_metric: str
    text_threshold: float
    judge_endpoint: ModelEndpoint | None
    target_is_default: bool
    threshold_is_default: bool
    text_applies: bool
    updated_at: datetime | None


def task_scoring_get(*, cluster: TaskCluster) -> Scoring:
    """The task's scoring settings with the defaults for what it does not set: the target EVALUATION_TARGET,
    the text metric cosine (MiniLM), the metric's default threshold (scoring.text.DEFAULT_THRESHOLDS)."""
    row = TaskScoring.objects.select_related("judge_endpoint").filter(cluster=cluster).first()
    target = row.target if row is not None else None
    metric = row.text_metric if row is not None else TextMetric.COSINE
    threshold = row.text_threshold if row is not None else None
    return Scoring(
        target=settings.EVALUATION_TARGET if target is None else target,
        text_metric=str(metric),
        text_threshold=threshold_of(str(metric), threshold),
        judge_endpoint=row.judge_endpoint if row is not None else None,
        target_is_default=target is None,
        threshold_is_default=threshold is None,
        text_applies=KIND_ALIASES.get(cluster.output_kind, cluster.output_kind) == TEXT,
        updated_at=row.updated_at if row is not None else None,
    )


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
        return training_run_candidate(evaluation.training_run)
    if evaluation.base_model is not None:
        shots = evaluation.shots or 0
        return Candidate(
            "base_model",
            f"{evaluation.base_model.name}, {'zero' if not shots else shots}-shot",
            f"{evaluation.base_model.hf_id} as it is, {shots} example{'' if shots == 1 else 's'} in the prompt",
        )
    return Candidate(evaluation.candidate_kind, "Unknown candidate", "")


def training_run_candidate(run: TrainingRun) -> Candidate:
    base = run.base_model.name if run.base_model else "MiniLM"
    method = {"lora": "LoRA", "qlora": "QLoRA"}.get(run.method, run.method or "LoRA")
    what = "classifier" if run.kind == "classifier" else f"{method} specialist"
    return Candidate("training_run", f"{base} {what}", f"training run {str(run.id)[:8]}")


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


# --- what the report page offers to evaluate ----------------------------------------------------------


def candidate_key(evaluation: Evaluation) -> str:
    """Which candidate an evaluation scored, as the page's form names it: "training_run:<id>",
    "endpoint:<id>", or "base_model:<id>:<shots>" (a catalog model with k shots is one candidate)."""
    if evaluation.training_run_id:
        return f"training_run:{evaluation.training_run_id}"
    if evaluation.endpoint_id:
        return f"endpoint:{evaluation.endpoint_id}"
    return f"base_model:{evaluation.base_model_id}:{evaluation.shots or 0}"


@dataclass(frozen=True)
class Offer:
    """One candidate the page offers to evaluate on a task. `value`: the form's choice; `latest`: the newest
    evaluation of this candidate on the task (None: never evaluated); `blocked`: why it cannot be."""

    value: str
    name: str
    detail: str
    latest: Evaluation | None = None
    blocked: str = ""
    evaluated: tuple[Evaluation, ...] = ()


@dataclass(frozen=True)
class Offers:
    """The task's finished training runs, the catalog's chat models (each with the newest evaluation of
    every number of shots tried on the task) and the project's model endpoints."""

    runs: list[Offer]
    models: list[Offer]
    endpoints: list[Offer]
    latest: dict[str, Evaluation]


def evaluation_offers(*, cluster: TaskCluster, evaluations: list[Evaluation]) -> Offers:
    """`evaluations`: the task's, newest first (task_evaluations)."""
    latest: dict[str, Evaluation] = {}
    for evaluation in evaluations:
        latest.setdefault(candidate_key(evaluation), evaluation)
    runs = []
    finished = (
        TrainingRun.objects.filter(cluster=cluster, status=JobStatus.SUCCEEDED)
        .exclude(artifact_path="")
        .select_related("base_model")
        .order_by("-finished_at", "-created_at")
    )
    for run in finished:
        words = training_run_candidate(run)
        blocked = ""
        if run.kind == SpecialistKind.CLASSIFIER and cluster.output_kind != OutputKind.LABEL:
            blocked = "A classifier answers with a label; this task's answers are not labels."
        when = f", trained {timezone.localtime(run.finished_at):%Y-%m-%d %H:%M}" if run.finished_at else ""
        value = f"training_run:{run.id}"
        runs.append(Offer(value, words.name, f"{words.detail}{when}", latest.get(value), blocked))
    models = []
    for model in CatalogModel.objects.filter(enabled=True, chat_template=True).order_by("params_b", "name"):
        tried = sorted(
            (e for key, e in latest.items() if key.startswith(f"base_model:{model.id}:")), key=lambda e: e.shots or 0
        )
        models.append(Offer(str(model.id), model.name, f"{model.params_b:g}B · {model.hf_id}", evaluated=tuple(tried)))
    endpoints = [
        Offer(f"endpoint:{e.id}", e.name, f"{e.model} at {e.base_url}", latest.get(f"endpoint:{e.id}"))
        for e in endpoint_list(project=cluster.project).order_by("name")
    ]
    return Offers(runs=runs, models=models, endpoints=endpoints, latest=latest)
