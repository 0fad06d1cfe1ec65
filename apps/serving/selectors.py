"""Reads: a project's deployments, and the routes the gateway serves from (task id -> deployment)."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.projects.models import Project
from apps.serving import vllm
from apps.serving.models import BackendKind, Deployment, DeploymentStatus, RetrainProposal, RetrainStatus, ServingEvent
from apps.specialists.models import SpecialistKind, TrainingRun

LOCAL_BACKENDS = (BackendKind.CLASSIFIER, BackendKind.LOCAL_LORA)
RUN_PREFIX = "specialist-"


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
        .select_related("evaluation__endpoint", "evaluation__training_run__base_model", "evaluation__base_model")
    )
    return {deployment.cluster_id: deployment for deployment in deployments}


def deployment_of_tasks(*, clusters: Iterable[TaskCluster]) -> dict[UUID, Deployment]:
    """Each task's deployment that is not stopped (task lists show it), in one query."""
    deployments = Deployment.objects.filter(cluster_id__in=[c.id for c in clusters]).exclude(
        status=DeploymentStatus.STOPPED
    )
    return {deployment.cluster_id: deployment for deployment in deployments}


def _local_deployments() -> QuerySet[Deployment]:
    return Deployment.objects.filter(backend__in=LOCAL_BACKENDS, evaluation__training_run__isnull=False).exclude(
        status=DeploymentStatus.STOPPED
    )


def local_specialist_get(*, name: str) -> TrainingRun | None:
    """The specialist the CPU backend serves as `name`: a deployment's id (classifier or local_lora, not
    stopped) or `specialist-<training run id>`; None when there is none."""
    runs = TrainingRun.objects.select_related("base_model")
    if name.startswith(RUN_PREFIX):
        uid = as_uuid(name.removeprefix(RUN_PREFIX))
        return runs.filter(id=uid).first() if uid else None
    uid = as_uuid(name)
    deployments = _local_deployments().select_related("evaluation__training_run__base_model")
    deployment = deployments.filter(id=uid).first() if uid else None
    return deployment.evaluation.training_run if deployment is not None else None


def local_specialist_names() -> list[str]:
    """The deployments the CPU backend serves, by id (what GET /v1/models lists)."""
    return [str(uid) for uid in _local_deployments().order_by("created_at").values_list("id", flat=True)]


def deployment_active_list() -> QuerySet[Deployment]:
    """Every deployment that is not stopped, of every project, with its candidate (health checks)."""
    return (
        Deployment.objects.exclude(status=DeploymentStatus.STOPPED)
        .select_related("evaluation__endpoint", "evaluation__training_run__base_model")
        .order_by("created_at")
    )


def vllm_server_for(*, run: TrainingRun | None) -> str | None:
    """The vLLM server (…/v1) that serves a LoRA specialist's base model (SERVING_VLLM_SERVERS, by the
    model's hf_id or name); None when the run is not a LoRA specialist or no vLLM server has its base."""
    if run is None or run.kind != SpecialistKind.LORA or run.base_model is None:
        return None
    return vllm.server_url(run.base_model.hf_id, run.base_model.name)


def vllm_stopped_deployment_ids(*, names: Iterable[str]) -> list[UUID]:
    """Of the adapter names a vLLM server lists, those that are stopped vllm_lora deployments' ids."""
    ids = [uid for uid in (as_uuid(name) for name in names) if uid is not None]
    stopped = Deployment.objects.filter(id__in=ids, backend=BackendKind.VLLM_LORA, status=DeploymentStatus.STOPPED)
    return list(stopped.values_list("id", flat=True))


def serving_event_list(
    *, project: Project, kind: str | None = None, task_id: UUID | None = None
) -> QuerySet[ServingEvent]:
    """The project's serving events, newest first; `kind`, `task_id`: only those."""
    events = ServingEvent.objects.filter(project=project)
    if kind:
        events = events.filter(kind=kind)
    if task_id is not None:
        events = events.filter(cluster_id=task_id)
    return events.order_by("-created_at", "-id")


def retrain_proposal_list(
    *, project: Project, task_id: UUID | None = None, status: str | None = None
) -> QuerySet[RetrainProposal]:
    """The project's retraining proposals and rounds, newest first, with their jobs; `task_id`, `status`: only
    those."""
    proposals = RetrainProposal.objects.filter(project=project).select_related(
        "cluster", "dataset", "training_run", "evaluation", "approval", "deployment"
    )
    if task_id is not None:
        proposals = proposals.filter(cluster_id=task_id)
    if status:
        proposals = proposals.filter(status=status)
    return proposals.order_by("-created_at", "-id")


def retrain_proposal_get(*, project: Project, proposal_id: Any) -> RetrainProposal:
    uid = as_uuid(proposal_id)
    proposal = retrain_proposal_list(project=project).filter(id=uid).first() if uid else None
    if proposal is None:
        raise NotFound("No such retraining proposal in this project")
    return proposal


def retrain_proposal_shown(*, cluster: TaskCluster) -> RetrainProposal | None:
    """What the deployment page shows: the task's latest proposal unless it was dismissed."""
    latest = retrain_proposal_list(project=cluster.project, task_id=cluster.id).first()
    return latest if latest is not None and latest.status != RetrainStatus.DISMISSED else None
