from typing import Any

from django.http import HttpRequest
from ninja import Router

from apps.common.errors import PermissionDenied
from apps.common.schemas import ErrorOut
from apps.fleet import selectors
from apps.fleet.schemas import WorkerListOut
from apps.projects.auth import ProjectApiKey, require_scope
from apps.projects.models import ApiKeyScope

router = Router(tags=["workers"], auth=ProjectApiKey())


def _worker_out(row: selectors.WorkerRow) -> dict[str, Any]:
    worker = row.worker
    return {
        "name": worker.name,
        "host": worker.host,
        "queues": worker.queues,
        "status": row.status,
        "draining": worker.draining,
        "concurrency": worker.concurrency,
        "current_job": row.current_job or None,
        "gpus": worker.gpus,
        "free_gpu_memory_mb": worker.free_gpu_memory_mb,
        "started_at": worker.started_at,
        "heartbeat_at": None if row.stopped else worker.heartbeat_at,
        "heartbeat_age_s": row.heartbeat_age_s,
    }


@router.get(
    "/workers",
    response={200: WorkerListOut, 401: ErrorOut, 403: ErrorOut},
    summary="List the GPU workers",
    description=(
        "Every registered Celery worker with its status, queues and GPUs, live ones first. GPU workers belong to "
        "the installation: the key needs the admin scope and must have been created by a site administrator "
        "(staff)."
    ),
)
def list_workers(request: HttpRequest) -> dict[str, Any]:
    key = require_scope(request, ApiKeyScope.ADMIN)
    if key.created_by is None or not selectors.user_may_manage_workers(user=key.created_by):
        raise PermissionDenied(
            "GPU workers belong to the installation: only a key created by a site administrator (staff) lists them"
        )
    return {"items": [_worker_out(row) for row in selectors.worker_list()]}
