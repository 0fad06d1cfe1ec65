"""Reads: a project's deployments, and the routes the gateway serves from (task id -> deployment)."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.projects.models import Project
from apps.serving.models import Deployment, DeploymentStatus


def deployment_list(
    *, project: Project, active: bool | None = None, cluster: TaskCluster | None = None
) -> QuerySet[Deployment]:
    """Newest first; `active`: only those not stopped (True) or only the stopped (False); `cluster`: one
    task's."""
    deployments = Deployment.objects.filter(project=project).select_related(
        "evaluation__endpoint", "evaluation__training_run__base_model", "evaluation__base_model", "created_by"
    )
    if cluster is not None:
        deployments = deployments.filter(cluster=cluster)
    if active is not None:
        deployments = (deployments.exclude if active else deployments.filter)(status=DeploymentStatus.STOPPED)
    return deployments.order_by("-created_at", "-id")


def deployment_get(*, project: Project, deployment_id: Any) -> Deployment:
    uid = as_uuid(deployment_id)
    deployment = deployment_list(project=project).filter(id=uid).first() if uid else None
    if deployment is None:
        raise NotFound("No such deployment in this project")
    return deployment


def deployment_routes(*, project_id: Any) -> dict[UUID, Deployment]:
    """What the gateway routes by: each task's deployment that is not stopped, keyed by task id, with its
    candidate loaded. A deployment whose approval was revoked is left out (the task is back on the LLM),
    and so is one of a task that is no longer active. The gateway sends a task's calls to the LLM when its
    deployment is not `routes_to_specialist` (starting, failed, or its backend down)."""
    deployments = (
        Deployment.objects.filter(
            project_id=project_id, cluster__status=ClusterStatus.ACTIVE, approval__revoked_by__isnull=True
        )
        .exclude(status=DeploymentStatus.STOPPED)
        .select_related("evaluation__endpoint", "evaluation__training_run", "evaluation__base_model")
    )
    return {deployment.cluster_id: deployment for deployment in deployments}


def deployment_of_tasks(*, clusters: Iterable[TaskCluster]) -> dict[UUID, Deployment]:
    """Each task's deployment that is not stopped (task lists show it), in one query."""
    deployments = Deployment.objects.filter(cluster_id__in=[c.id for c in clusters]).exclude(
        status=DeploymentStatus.STOPPED
    )
    return {deployment.cluster_id: deployment for deployment in deployments}
