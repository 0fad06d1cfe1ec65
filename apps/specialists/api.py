from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from apps.common.errors import DomainError, NotFound
from apps.common.schemas import ErrorOut
from apps.discovery.selectors import task_cluster_get
from apps.projects.auth import ProjectApiKey, require_scope
from apps.specialists import selectors, services
from apps.specialists.catalog import CATALOG_FIELDS, catalog_note, model_memory
from apps.specialists.models import CatalogModel, TrainingDataset
from apps.specialists.schemas import CandidateListOut, CatalogModelListOut, DatasetIn, DatasetOut

router = Router(tags=["specialists"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


def _model_out(model: CatalogModel, weights: tuple[bool, str]) -> dict[str, Any]:
    return {
        **{name: getattr(model, name) for name in ("id", "hf_id", *CATALOG_FIELDS, "seeded")},
        "note": catalog_note(model.hf_id),
        "memory": asdict(model_memory(model)),
        "weights_present": weights[0],
        "weights_note": weights[1],
    }


@router.get(
    "/models",
    response={200: CatalogModelListOut, **_ERRORS},
    summary="List the model catalog",
    description="The small models a specialist can start from, with GPU memory estimates and whether their "
    "weights are on this machine.",
)
def list_models(request: HttpRequest) -> dict[str, Any]:
    require_scope(request, "read")
    models = selectors.catalog_model_list()
    weights = selectors.weights_by_model(models=models)
    return {"items": [_model_out(m, weights[m.id]) for m in models]}


@router.get(
    "/clusters/{cluster_id}/candidates",
    response={200: CandidateListOut, 404: ErrorOut, **_ERRORS},
    summary="Rank base models for a task",
    description="Every catalog model (and, for a closed label set, a classifier) with whether it passes the hard "
    "constraints (licence, GPU memory, context window, tool calling), a fit score and reasons; eligible first.",
)
def list_candidates(request: HttpRequest, cluster_id: str) -> dict[str, Any]:
    key = require_scope(request, "read")
    cluster = task_cluster_get(project=key.project, cluster_id=cluster_id)
    ranking = selectors.candidate_ranking(cluster=cluster)
    models = [c.model for c in ranking.candidates if c.model]
    weights = selectors.weights_by_model(models=models)
    return {
        "cluster": cluster.id,
        "gpu_memory_mb": ranking.gpu_memory_mb,
        "gpu_memory_assumed": ranking.gpu_assumed,
        "prompt_tokens_p99": ranking.prompt_p99,
        "notes": ranking.notes,
        "items": [
            {
                "kind": c.kind,
                "key": c.key,
                "name": c.name,
                "model": _model_out(c.model, weights[c.model.id]) if c.model else None,
                "eligible": c.eligible,
                "recommended": c.recommended,
                "score": c.score,
                "reasons": c.reasons,
                "failed_constraints": c.failed_constraints,
            }
            for c in ranking.candidates
        ],
    }


@router.post(
    "/datasets",
    response={202: DatasetOut, 404: ErrorOut, **_ERRORS},
    summary="Build a training dataset",
    description="Queues the build of a dataset and answers at once with it (status queued); poll it for its "
    "progress. The job splits the task's trainable calls into train / validation / test (a trace or conversation "
    "never spans two splits; the task's first test split is frozen and reused) and writes them as JSONL. Fewer "
    "examples than recommended give warnings; a task with no trainable call is a 400.",
)
def create_dataset(request: HttpRequest, payload: DatasetIn) -> Status[TrainingDataset]:
    key = require_scope(request, "discover")
    try:
        cluster = task_cluster_get(project=key.project, cluster_id=payload.cluster)
    except NotFound as exc:
        raise NotFound(exc.message, field="cluster") from exc
    base_model = None
    if payload.base_model is not None:
        try:
            base_model = selectors.catalog_model_get(ref=payload.base_model)
        except NotFound as exc:
            raise DomainError(exc.message, field="base_model", status=422, code="invalid") from exc
    dataset = services.dataset_create(
        cluster=cluster,
        base_model=base_model,
        kind=payload.kind,
        val_fraction=payload.val_fraction,
        test_fraction=payload.test_fraction,
        seed=payload.seed,
        created_by=None,
    )
    return Status(202, dataset)


@router.get(
    "/datasets/{dataset_id}",
    response={200: DatasetOut, 404: ErrorOut, **_ERRORS},
    summary="Get a training dataset",
    description="The dataset with its build's status and progress; its counts, test hash and files once built.",
)
def get_dataset(request: HttpRequest, dataset_id: str) -> TrainingDataset:
    key = require_scope(request, "read")
    return selectors.dataset_get(project=key.project, dataset_id=dataset_id)
