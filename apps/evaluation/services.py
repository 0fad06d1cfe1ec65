"""Writes: model endpoints, a task's scoring settings, evaluations (created and queued here, run by the job
in execution.py), the task's frozen test split, and the job's fenced writes of its results.

Services never import the tasks: work is sent with apps.jobs.services.job_enqueue, after commit."""

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.common.errors import Conflict, DomainError, NotFound
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.discovery.texts import OutputKind
from apps.evaluation import crypto, selectors
from apps.evaluation.models import (
    Evaluation,
    EvaluationResult,
    ModelEndpoint,
    TaskScoring,
    TaskTestSplit,
    TextMetric,
)
from apps.evaluation.scoring import TEXT, resolve_kind
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists import selectors as specialists
from apps.specialists.models import CatalogModel, SpecialistKind, TrainingRun

MAX_SHOTS = 16
MAX_MODEL_PATTERNS = 50
MAX_PATTERN_CHARS = 200
NO_TEST_CALLS = (
    "This task has no trainable calls with an answer to test on. Check the curation report for why its calls "
    "were excluded."
)


# --- endpoints ----------------------------------------------------------------------------------------


def _price(value: Decimal | float | None, field: str) -> Decimal | None:
    if value is None:
        return None
    price = Decimal(str(value))
    if not price.is_finite() or price < 0 or price >= 10**6:
        raise DomainError("A price is a number from 0 up to a million (USD).", field=field, status=422, code="invalid")
    return price


def _base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise DomainError(
            "The base URL is the server's address up to /v1, e.g. http://vllm:8000/v1 (http or https, no query).",
            field="base_url",
            status=422,
            code="invalid",
        )
    if url.endswith("/chat/completions"):
        url = url.removesuffix("/chat/completions")
    return url


def _model_patterns(value: list[str] | None) -> list[str]:
    """The model names an upstream endpoint serves: fnmatch patterns, stripped, without repeats; None: any."""
    if value is None:
        return ["*"]
    patterns: list[str] = []
    for raw in value:
        pattern = raw.strip() if isinstance(raw, str) else ""
        if not pattern:
            raise DomainError(
                'A model pattern is a model name or an fnmatch pattern such as "gpt-4o*", never empty.',
                field="models",
                status=422,
                code="invalid",
            )
        if len(pattern) > MAX_PATTERN_CHARS:
            raise DomainError(
                f"A model pattern is at most {MAX_PATTERN_CHARS} characters.",
                field="models",
                status=422,
                code="invalid",
            )
        if pattern not in patterns:
            patterns.append(pattern)
    if not patterns:
        raise DomainError(
            'Name at least one model it serves, or leave models out for any ("*").',
            field="models",
            status=422,
            code="invalid",
        )
    if len(patterns) > MAX_MODEL_PATTERNS:
        raise DomainError(
            f"At most {MAX_MODEL_PATTERNS} model patterns per endpoint.", field="models", status=422, code="invalid"
        )
    return patterns


@transaction.atomic
def endpoint_create(
    *,
    project: Project,
    name: str,
    base_url: str,
    model: str,
    api_key: str = "",
    price_per_hour: Decimal | float | None = None,
    price_input_per_mtok: Decimal | float | None = None,
    price_output_per_mtok: Decimal | float | None = None,
    upstream: bool = False,
    models: list[str] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> ModelEndpoint:
    """Add an OpenAI-compatible endpoint as a candidate or, `upstream`, as one of the project's LLM providers
    serving the model names that match `models` (fnmatch patterns; None: any). Its API key is stored encrypted
    and never shown again. It is priced per hour of its host or per million tokens (input and output), not
    both."""
    name, model, api_key = name.strip(), model.strip(), api_key.strip()
    if not name:
        raise DomainError("Give the endpoint a name.", field="name", status=422, code="invalid")
    if not model:
        raise DomainError("Give the model name the server expects.", field="model", status=422, code="invalid")
    url = _base_url(base_url)
    patterns = _model_patterns(models)
    hourly = _price(price_per_hour, "price_per_hour")
    per_in = _price(price_input_per_mtok, "price_input_per_mtok")
    per_out = _price(price_output_per_mtok, "price_output_per_mtok")
    if hourly is not None and (per_in is not None or per_out is not None):
        raise DomainError(
            "Price the endpoint per hour of its host or per million tokens, not both.",
            field="price_per_hour",
            status=422,
            code="invalid",
        )
    if ModelEndpoint.objects.filter(project=project, name=name).exists():
        raise Conflict(f"This project has an endpoint named {name!r} already.", field="name")
    return ModelEndpoint.objects.create(
        project=project,
        name=name,
        base_url=url,
        model=model,
        api_key_encrypted=crypto.encrypt(api_key),
        price_per_hour=hourly,
        price_input_per_mtok=per_in,
        price_output_per_mtok=per_out,
        upstream=upstream,
        models=patterns,
        created_by=created_by,  # type: ignore[misc]
    )


@transaction.atomic
def endpoint_base_url_set(*, endpoint: ModelEndpoint, base_url: str) -> ModelEndpoint:
    """Point the endpoint at another address (the server moved, e.g. to another port). The gateway, which
    caches upstream endpoints, picks it up on its next reload."""
    url = _base_url(base_url)
    if url != endpoint.base_url:
        endpoint.base_url = url
        endpoint.save(update_fields=["base_url"])
    return endpoint


# --- a task's scoring settings -------------------------------------------------------------------------


def _share(value: float | None, *, field: str, message: str, top: bool) -> float | None:
    """None, or a number above 0 and below 1 (up to 1 included when `top`)."""
    if value is None:
        return None
    if not math.isfinite(value) or not (0 < value <= 1 if top else 0 < value < 1):
        raise DomainError(message, field=field, status=422, code="invalid")
    return float(value)


@transaction.atomic
def task_scoring_set(
    *,
    cluster: TaskCluster,
    target: float | None = None,
    text_metric: str = TextMetric.COSINE,
    text_threshold: float | None = None,
    judge_endpoint: ModelEndpoint | None = None,
    updated_by: AbstractBaseUser | None = None,
) -> TaskScoring:
    """Set how the task's candidates are scored from now on (evaluations already made keep what they were
    scored with): the agreement target (None: EVALUATION_TARGET), and for free text and code the metric
    (rouge_l, cosine or judge), its threshold (None: the metric's default) and, for judge only, the project's
    endpoint that judges. Every call sets all of them: what is not given goes back to its default."""
    target = _share(target, field="target", message="The target is an agreement above 0 and below 1.", top=False)
    if text_metric not in TextMetric.values:
        choices = ", ".join(TextMetric.values)
        raise DomainError(f"The text metric is one of {choices}.", field="text_metric", status=422, code="invalid")
    threshold = _share(
        text_threshold,
        field="text_threshold",
        message="The threshold is a similarity above 0 and up to 1.",
        top=True,
    )
    if text_metric == TextMetric.JUDGE and judge_endpoint is None:
        raise DomainError(
            "The judge metric needs a judge endpoint: one of the project's model endpoints.",
            field="judge_endpoint",
            status=422,
            code="required",
        )
    if text_metric != TextMetric.JUDGE and judge_endpoint is not None:
        raise DomainError(
            "A judge endpoint goes with the judge metric only.", field="judge_endpoint", status=422, code="invalid"
        )
    if judge_endpoint is not None and judge_endpoint.project_id != cluster.project_id:
        raise NotFound("No such model endpoint in this project", field="judge_endpoint")
    scoring, _ = TaskScoring.objects.update_or_create(  # type: ignore[misc]
        cluster=cluster,
        defaults={
            "target": target,
            "text_metric": text_metric,
            "text_threshold": threshold,
            "judge_endpoint": judge_endpoint,
            "updated_by": updated_by,
        },
    )
    return scoring


# --- evaluations --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    endpoint: ModelEndpoint | None = None
    training_run: TrainingRun | None = None
    base_model: CatalogModel | None = None
    shots: int | None = None


def _check_training_run(cluster: TaskCluster, run: TrainingRun) -> _Candidate:
    if run.project_id != cluster.project_id:
        raise NotFound("No such training run in this project", field="candidate.training_run")
    if run.status != JobStatus.SUCCEEDED or not run.artifact_path:
        states = {str(JobStatus.FAILED): "failed", str(JobStatus.CANCELLED): "was cancelled"}
        state = states.get(run.status, "has not finished")
        raise DomainError(
            f"This training run {state}: evaluate a run that succeeded.",
            field="candidate.training_run",
            code="not_finished",
            status=409,
        )
    classifier = run.kind == SpecialistKind.CLASSIFIER
    if classifier and cluster.output_kind != OutputKind.LABEL:
        raise DomainError(
            "A classifier answers with a label: evaluate it on a task whose answers are labels.",
            field="candidate.training_run",
        )
    base = None if classifier else run.base_model
    if not classifier and base is None:
        raise DomainError("This LoRA run has no base model to load.", field="candidate.training_run")
    _check_workers(base)
    return _Candidate(training_run=run)


def _check_base_model(model: CatalogModel, shots: int | None) -> _Candidate:
    shots = 0 if shots is None else shots
    if not 0 <= shots <= MAX_SHOTS:
        raise DomainError(
            f"shots is the number of examples in the prompt: 0 to {MAX_SHOTS}.",
            field="candidate.shots",
            status=422,
            code="invalid",
        )
    if not model.enabled:
        raise DomainError(f"{model.name} is disabled in the catalog.", field="candidate.base_model", status=422)
    if not model.chat_template:
        raise DomainError(
            f"{model.name} has no chat template, so it cannot be asked the agent's chat requests: pick an "
            "instruction-tuned model.",
            field="candidate.base_model",
            status=422,
            code="invalid",
        )
    _check_workers(model)
    return _Candidate(base_model=model, shots=shots)


def _check_workers(base_model: CatalogModel | None) -> None:
    """Refused at once, as a training run is, when no registered worker could ever run it."""
    if blocker := specialists.evaluation_blocker(base_model=base_model):
        raise DomainError(blocker, code="cannot_run", status=409, field="candidate")


def _check_candidate(
    *,
    cluster: TaskCluster,
    endpoint: ModelEndpoint | None,
    training_run: TrainingRun | None,
    base_model: CatalogModel | None,
    shots: int | None,
) -> _Candidate:
    given = [c for c in (endpoint, training_run, base_model) if c is not None]
    if len(given) != 1:
        raise DomainError(
            "Give exactly one candidate: an endpoint, a training run, or a base model with its number of shots.",
            field="candidate",
        )
    if shots is not None and base_model is None:
        raise DomainError("shots go with a base model candidate only.", field="candidate.shots")
    if training_run is not None:
        return _check_training_run(cluster, training_run)
    if base_model is not None:
        return _check_base_model(base_model, shots)
    assert endpoint is not None
    if endpoint.project_id != cluster.project_id:
        raise NotFound("No such model endpoint in this project", field="candidate.endpoint")
    return _Candidate(endpoint=endpoint)


def _check_task(cluster: TaskCluster) -> None:
    if cluster.status != ClusterStatus.ACTIVE:
        raise DomainError(
            f"This task is {cluster.get_status_display().lower()}: evaluate one of the project's active tasks.",
            field="cluster",
        )
    try:
        resolve_kind(cluster.output_kind or "none")
    except ValueError:
        raise DomainError(
            f"This task's answers are of no kind that can be scored (output kind {cluster.output_kind or 'none'!r}): "
            "evaluation scores labels, JSON, tool calls, SQL, code and free text.",
            field="cluster",
            code="not_scorable",
        ) from None
    if not selectors.test_calls_exist(cluster=cluster):
        raise DomainError(NO_TEST_CALLS, field="cluster", code="no_data")


@transaction.atomic
def evaluation_create(
    *,
    cluster: TaskCluster,
    endpoint: ModelEndpoint | None = None,
    training_run: TrainingRun | None = None,
    base_model: CatalogModel | None = None,
    shots: int | None = None,
    target: float | None = None,
    created_by: AbstractBaseUser | None = None,
) -> Evaluation:
    """Queue the scoring of one candidate on the task's frozen test split (execution.evaluation_run): an
    endpoint of the project, a finished training run of the project (LoRA adapter or classifier), or a
    catalog model with 0 to MAX_SHOTS examples of the task in its prompt. Endpoints and classifiers go to the
    cpu queue, local language models to the gpu queue; a local candidate no registered worker could run is
    refused at once with what to do (as a training run is). The target is the one given, else the task's
    (selectors.task_scoring_get); free text and code record the task's text metric, threshold and judge
    endpoint as they are now, so the evaluation is scored (and re-scored) the same way whatever changes."""
    candidate = _check_candidate(
        cluster=cluster, endpoint=endpoint, training_run=training_run, base_model=base_model, shots=shots
    )
    _check_task(cluster)
    scoring = selectors.task_scoring_get(cluster=cluster)
    target = scoring.target if target is None else target
    if not 0 < target < 1:
        raise DomainError("The target is an agreement above 0 and below 1.", field="target", status=422)
    text = resolve_kind(cluster.output_kind) == TEXT
    evaluation = Evaluation(
        project=cluster.project,
        cluster=cluster,
        endpoint=candidate.endpoint,
        training_run=candidate.training_run,
        base_model=candidate.base_model,
        shots=candidate.shots,
        kind=cluster.output_kind,
        target=target,
        text_metric=scoring.text_metric if text else "",
        text_threshold=scoring.text_threshold if text else None,
        judge_endpoint=scoring.judge_endpoint if text else None,
        created_by=created_by,  # type: ignore[misc]
        stage="queued",
    )
    evaluation.message = f"Waiting for a worker on the {evaluation.queue} queue"
    evaluation.save(force_insert=True)
    jobs.job_enqueue(job=evaluation)
    return evaluation


def evaluation_cancel(*, evaluation: Evaluation) -> Evaluation:
    """A queued evaluation is cancelled at once; a running one stops after the calls in flight."""
    result = jobs.job_request_cancel(job=evaluation)
    assert isinstance(result, Evaluation)
    return result


# --- the job's writes ---------------------------------------------------------------------------------


@transaction.atomic
def test_split_freeze(*, cluster: TaskCluster) -> TaskTestSplit:
    """The task's test split, chosen on first need and then never changed: the test calls of the task's
    first dataset when one was built (so specialists are never scored on what they trained on), else about
    EVALUATION_TEST_FRACTION of its trainable, answered calls by a hash of their ids; at most
    EVALUATION_TEST_CALLS, taken in the order of that hash. Raises DomainError when there is nothing."""
    split = selectors.test_split_get(cluster=cluster)
    if split is not None:
        return split
    source = selectors.test_split_source(cluster=cluster)
    pool = sorted(selectors.test_split_pool(cluster=cluster, source=source), key=selectors.call_unit)
    share = len(pool) if source is not None else math.ceil(settings.EVALUATION_TEST_FRACTION * len(pool))
    chosen = pool[: min(share, settings.EVALUATION_TEST_CALLS)]
    if not chosen:
        raise DomainError(NO_TEST_CALLS, code="no_data")
    split, _ = TaskTestSplit.objects.get_or_create(
        cluster=cluster,
        defaults={
            "call_ids": [str(uid) for uid in chosen],
            "test_hash": selectors.test_split_hash(chosen),
            "dataset": source,
        },
    )
    return split


def _held(evaluation: Evaluation) -> Any:
    """The evaluation's row, locked, while the worker that claimed it still holds it."""
    return Evaluation.objects.select_for_update().filter(
        id=evaluation.id, status=JobStatus.RUNNING, attempt=evaluation.attempt
    )


@transaction.atomic
def evaluation_results_add(*, evaluation: Evaluation, results: list[EvaluationResult]) -> bool:
    """Store scored calls, fenced like every job write: the row lock keeps a newer claim from slipping in
    between the check and the insert. A call stored already is kept as it was. False: no longer ours."""
    if not _held(evaluation).exists():
        return False
    EvaluationResult.objects.bulk_create(results, ignore_conflicts=True)
    return True


def evaluation_succeed(*, evaluation: Evaluation, message: str, **fields: Any) -> bool:
    return jobs.job_succeed(job=evaluation, message=message, **fields)
