"""Training runs over the API: start one on a dataset (202), then poll it."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from apps.common.schemas import ErrorOut
from apps.projects.auth import ProjectApiKey, require_scope
from apps.specialists import selectors, services
from apps.specialists.models import TrainingRun
from apps.specialists.schemas import TrainingRunIn, TrainingRunOut

router = Router(tags=["specialists"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post(
    "/training-runs",
    response={202: TrainingRunOut, 404: ErrorOut, **_ERRORS},
    summary="Train a specialist",
    description=(
        "Queues a training run on a built dataset: a LoRA adapter on a GPU worker, or a classifier on a CPU "
        "worker. Poll the run for its progress; while queued, its message says what it waits for. A 409 says why "
        "no registered worker could ever run it (no worker on its queue, weights on no worker, QLoRA without a "
        "GPU, a model too big for every GPU) and what to do."
    ),
)
def create_training_run(request: HttpRequest, payload: TrainingRunIn) -> Status[TrainingRun]:
    key = require_scope(request, "discover")
    dataset = selectors.dataset_get(project=key.project, dataset_id=payload.dataset, field="dataset")
    run = services.training_run_create(dataset=dataset, params=payload.params, created_by=None)
    return Status(202, run)


@router.get(
    "/training-runs/{run_id}",
    response={200: TrainingRunOut, 404: ErrorOut, **_ERRORS},
    summary="Get a training run",
)
def get_training_run(request: HttpRequest, run_id: str) -> TrainingRun:
    key = require_scope(request, "read")
    return selectors.training_run_get(project=key.project, run_id=run_id)
