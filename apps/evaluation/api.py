"""Model endpoints and evaluations over the API: add an endpoint, set how a task is scored, start an
evaluation (202), poll it, read its scored calls."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.common.errors import DomainError, NotFound
from apps.common.schemas import ErrorOut
from apps.discovery.models import TaskCluster
from apps.discovery.selectors import task_cluster_get
from apps.evaluation import selectors, services
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.evaluation.schemas import (
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    EvaluationFilterIn,
    EvaluationIn,
    EvaluationOut,
    EvaluationPageOut,
    ResultFilterIn,
    ResultPageOut,
    TaskScoringIn,
    TaskScoringOut,
)
from apps.projects.auth import ProjectApiKey, require_scope
from apps.specialists import selectors as specialists
from apps.specialists.models import CatalogModel, TrainingRun

router = Router(tags=["evaluation"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post(
    "/endpoints",
    response={201: EndpointOut, **_ERRORS},
    summary="Add a model endpoint",
    description="An OpenAI-compatible chat.completions server (vLLM, TGI, Ollama, a hosted API) serving a model "
    "to evaluate as a candidate, or (`upstream`) one of the project's LLM providers, serving the model names its "
    "`models` patterns match. Its API key is stored encrypted and never shown again. Price it per hour of its "
    "host or per million tokens to see its cost per 1000 calls. A name used already is a 409.",
)
def create_endpoint(request: HttpRequest, payload: EndpointIn) -> Status[ModelEndpoint]:
    key = require_scope(request, "discover")
    endpoint = services.endpoint_create(
        project=key.project,
        name=payload.name,
        base_url=payload.base_url,
        model=payload.model,
        api_key=payload.api_key,
        price_per_hour=payload.price_per_hour,
        price_input_per_mtok=payload.price_input_per_mtok,
        price_output_per_mtok=payload.price_output_per_mtok,
        upstream=payload.upstream,
        models=payload.models,
        created_by=None,
    )
    return Status(201, endpoint)


@router.get("/endpoints", response={200: EndpointListOut, **_ERRORS}, summary="List the model endpoints")
def list_endpoints(request: HttpRequest) -> dict[str, Any]:
    key = require_scope(request, "read")
    return {"items": list(selectors.endpoint_list(project=key.project))}


def _scoring_out(cluster: TaskCluster) -> dict[str, Any]:
    scoring = selectors.task_scoring_get(cluster=cluster)
    return {
        "cluster": cluster.id,
        "target": scoring.target,
        "target_is_default": scoring.target_is_default,
        "text_metric": scoring.text_metric,
        "text_threshold": scoring.text_threshold,
        "text_threshold_is_default": scoring.threshold_is_default,
        "judge_endpoint": scoring.judge_endpoint.id if scoring.judge_endpoint else None,
        "applies_to_answers": scoring.text_applies,
        "updated_at": scoring.updated_at,
    }


@router.get(
    "/clusters/{cluster_id}/scoring",
    response={200: TaskScoringOut, **_ERRORS},
    summary="Get how a task is scored",
    description="The task's agreement target and, for free text and code, its metric, threshold and judge "
    "endpoint, with the defaults filled in for what it does not set.",
)
def get_task_scoring(request: HttpRequest, cluster_id: str) -> dict[str, Any]:
    key = require_scope(request, "read")
    return _scoring_out(task_cluster_get(project=key.project, cluster_id=cluster_id))


@router.put(
    "/clusters/{cluster_id}/scoring",
    response={200: TaskScoringOut, **_ERRORS},
    summary="Set how a task is scored",
    description="Sets every setting at once (one left out goes back to its default) for the evaluations started "
    "from now on; those made already keep what they were scored with. The judge metric needs `judge_endpoint`, "
    "one of the project's model endpoints, asked with a fixed 1 to 5 rubric at temperature 0.",
)
def set_task_scoring(request: HttpRequest, cluster_id: str, payload: TaskScoringIn) -> dict[str, Any]:
    key = require_scope(request, "discover")
    cluster = task_cluster_get(project=key.project, cluster_id=cluster_id)
    judge = None
    if payload.judge_endpoint is not None:
        judge = selectors.endpoint_get(project=key.project, endpoint_id=payload.judge_endpoint, field="judge_endpoint")
    services.task_scoring_set(
        cluster=cluster,
        target=payload.target,
        text_metric=payload.text_metric,
        text_threshold=payload.text_threshold,
        judge_endpoint=judge,
        updated_by=None,
    )
    return _scoring_out(cluster)


def _candidate(key_project: Any, payload: EvaluationIn) -> dict[str, Any]:
    """The candidate's objects, each looked up in the project; the service decides which it accepts."""
    given = payload.candidate
    found: dict[str, Any] = {"endpoint": None, "training_run": None, "base_model": None, "shots": given.shots}
    if given.endpoint is not None:
        found["endpoint"] = selectors.endpoint_get(
            project=key_project, endpoint_id=given.endpoint, field="candidate.endpoint"
        )
    if given.training_run is not None:
        try:
            run: TrainingRun = specialists.training_run_get(project=key_project, run_id=given.training_run)
        except NotFound as exc:
            raise NotFound(exc.message, field="candidate.training_run") from exc
        found["training_run"] = run
    if given.base_model is not None:
        try:
            model: CatalogModel = specialists.catalog_model_get(ref=given.base_model)
        except NotFound as exc:
            raise DomainError(exc.message, field="candidate.base_model", status=422, code="invalid") from exc
        found["base_model"] = model
        found["shots"] = given.shots or 0
    return found


@router.post(
    "/evaluations",
    response={202: EvaluationOut, **_ERRORS},
    summary="Evaluate a candidate on a task",
    description=(
        "Queues the scoring of a candidate against the LLM's logged answers on the task's frozen test split "
        "(the same calls for every candidate of the task; `test_hash` says which) and answers at once; poll it "
        'for progress. The candidate is exactly one of `{"endpoint": id}`, `{"training_run": id}` or '
        '`{"base_model": id, "shots": k}` (k examples from the task\'s train split in the prompt). Endpoints and '
        "classifiers run on the cpu queue, local language models on the gpu queue; a candidate no registered "
        "worker can run is a 409. A task whose answers cannot be scored, or with no calls to test on, is a 400."
    ),
)
def create_evaluation(request: HttpRequest, payload: EvaluationIn) -> Status[Evaluation]:
    key = require_scope(request, "discover")
    try:
        cluster = task_cluster_get(project=key.project, cluster_id=payload.cluster)
    except NotFound as exc:
        raise NotFound(exc.message, field="cluster") from exc
    evaluation = services.evaluation_create(
        cluster=cluster, target=payload.target, created_by=None, **_candidate(key.project, payload)
    )
    return Status(202, evaluation)


@router.get(
    "/evaluations",
    response={200: EvaluationPageOut, **_ERRORS},
    summary="List evaluations, newest first",
)
def list_evaluations(request: HttpRequest, filters: Query[EvaluationFilterIn]) -> dict[str, Any]:
    key = require_scope(request, "read")
    cluster = None
    if filters.cluster is not None:
        try:
            cluster = task_cluster_get(project=key.project, cluster_id=filters.cluster)
        except NotFound as exc:
            raise NotFound(exc.message, field="cluster") from exc
    page = selectors.evaluation_list(project=key.project, cluster=cluster, cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/evaluations/{evaluation_id}",
    response={200: EvaluationOut, **_ERRORS},
    summary="Get an evaluation",
    description="Its status and progress; once done, agreement with its 95% interval, the verdict against the "
    "target, the kind's metrics, latency and cost per 1000 calls against the LLM's.",
)
def get_evaluation(request: HttpRequest, evaluation_id: str) -> Evaluation:
    key = require_scope(request, "read")
    return selectors.evaluation_get(project=key.project, evaluation_id=evaluation_id)


@router.post(
    "/evaluations/{evaluation_id}/cancel",
    response={200: EvaluationOut, **_ERRORS},
    summary="Cancel an evaluation",
    description="A queued evaluation is cancelled at once; a running one stops after the calls in flight.",
)
def cancel_evaluation(request: HttpRequest, evaluation_id: str) -> Evaluation:
    key = require_scope(request, "discover")
    evaluation = selectors.evaluation_get(project=key.project, evaluation_id=evaluation_id)
    services.evaluation_cancel(evaluation=evaluation)
    return selectors.evaluation_get(project=key.project, evaluation_id=evaluation_id)


@router.get(
    "/evaluations/{evaluation_id}/results",
    response={200: ResultPageOut, **_ERRORS},
    summary="List an evaluation's scored calls",
    description="Each test call scored so far, in the order it was scored: whether the candidate agrees with the "
    "LLM, the reason when it does not, and both answers. `agree=false` lists the disagreements.",
)
def list_evaluation_results(request: HttpRequest, evaluation_id: str, filters: Query[ResultFilterIn]) -> dict[str, Any]:
    key = require_scope(request, "read")
    evaluation = selectors.evaluation_get(project=key.project, evaluation_id=evaluation_id)
    page = selectors.evaluation_results(
        evaluation=evaluation, agree=filters.agree, cursor=filters.cursor, limit=filters.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}
