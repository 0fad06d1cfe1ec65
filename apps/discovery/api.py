from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.common.schemas import ErrorOut
from apps.discovery import selectors, services
from apps.discovery.models import ClusterStatus, DiscoveryRun, TaskCluster
from apps.discovery.schemas import ClusterFilterIn, ClusterListOut, ClusterOut, DiscoveryRunIn, DiscoveryRunOut
from apps.discovery.texts import OUTPUT_KIND_LABELS
from apps.projects.auth import ProjectApiKey, require_scope

router = Router(tags=["discovery"], auth=ProjectApiKey())

_ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


@router.post(
    "/discovery-runs",
    response={202: DiscoveryRunOut, 409: ErrorOut, **_ERRORS},
    summary="Start task discovery",
    description=(
        "Queues a run that groups the project's calls into recurring tasks; poll the run for its progress. "
        "409 while another run is queued or running."
    ),
)
def create_discovery_run(request: HttpRequest, payload: DiscoveryRunIn) -> Status[DiscoveryRun]:
    key = require_scope(request, "discover")
    run = services.discovery_run_create(
        project=key.project,
        created_by=None,
        since=payload.since,
        until=payload.until,
        agents=payload.agents,
        min_cluster_size=payload.min_cluster_size,
    )
    return Status(202, run)


@router.get(
    "/discovery-runs/{run_id}", response={200: DiscoveryRunOut, 404: ErrorOut, **_ERRORS}, summary="Get a discovery run"
)
def get_discovery_run(request: HttpRequest, run_id: str) -> DiscoveryRun:
    key = require_scope(request, "read")
    return selectors.discovery_run_get(project=key.project, run_id=run_id)


def _cluster_out(cluster: TaskCluster, stats: selectors.ClusterStats | None) -> dict[str, Any]:
    s = stats or selectors.ClusterStats()
    fit = selectors.cluster_suitability(cluster=cluster, stats=stats)
    return {
        "id": cluster.id,
        "code": cluster.code,
        "name": cluster.name,
        "description": cluster.description,
        "status": cluster.status,
        "keep_on_llm": cluster.keep_on_llm,
        "output_kind": cluster.output_kind,
        "output_kind_label": OUTPUT_KIND_LABELS.get(cluster.output_kind, ""),
        "labels": cluster.labels,
        "json_keys": cluster.json_keys,
        "keywords": cluster.keywords,
        "representatives": cluster.representatives,
        "merged_into": cluster.merged_into_id,
        "parent": cluster.parent_id,
        "stats": {
            "calls": s.calls,
            "share": s.share,
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "cost": s.cost,
            "latency_p50_ms": s.latency_p50,
            "latency_p95_ms": s.latency_p95,
            "prompt_tokens_p99": s.prompt_p99,
            "agents": s.agents,
        },
        "suitability": {"level": fit.level, "score": fit.score, "reasons": fit.reasons},
    }


@router.get(
    "/clusters",
    response={200: ClusterListOut, **_ERRORS},
    summary="List the project's tasks",
    description="The recurring tasks discovery found, by number, with their statistics and suitability.",
)
def list_clusters(request: HttpRequest, filters: Query[ClusterFilterIn]) -> dict[str, Any]:
    key = require_scope(request, "read")
    statuses = tuple(ClusterStatus.values) if filters.status == "all" else (filters.status,)
    clusters = selectors.task_cluster_list(project=key.project, statuses=statuses)
    stats = selectors.cluster_stats(project=key.project, cluster_ids=[c.id for c in clusters])
    return {"items": [_cluster_out(c, stats.get(c.id)) for c in clusters]}


@router.get("/clusters/{cluster_id}", response={200: ClusterOut, 404: ErrorOut, **_ERRORS}, summary="Get one task")
def get_cluster(request: HttpRequest, cluster_id: str) -> dict[str, Any]:
    key = require_scope(request, "read")
    cluster = selectors.task_cluster_get(project=key.project, cluster_id=cluster_id)
    stats = selectors.cluster_stats(project=key.project, cluster_ids=[cluster.id])
    return _cluster_out(cluster, stats.get(cluster.id))
