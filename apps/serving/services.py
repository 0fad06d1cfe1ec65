"""Writes: deploy an approved candidate behind its task, change its mode or canary share, stop it, and record
its backend's health. Every change is announced after commit on the Redis channel
downshift:routes:<project id>, so the gateway reloads the project's routes (selectors.deployment_routes).

Deployments of one task are serialised by a lock on the task's row, the lock swap decisions take too, so a
deployment is never created from an approval being revoked at the same moment. A vllm_lora deployment that
starts or stops sends backend_start_wanted / backend_stop_wanted (apps.serving.signals): its adapter is
loaded or unloaded after commit (apps.serving.backends, through a task)."""

import logging
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.approvals import selectors as approvals
from apps.approvals.models import Decision, SwapApproval
from apps.approvals.services import Actor
from apps.calls.ingest import Batch
from apps.calls.services import calls_ingest
from apps.common.errors import Conflict, DomainError, NotFound, PermissionDenied
from apps.common.ids import as_uuid
from apps.common.redis_client import redis_client
from apps.discovery.models import ClusterStatus, TaskCluster
from apps.evaluation.models import Evaluation
from apps.projects.models import ApiKeyScope, Project
from apps.projects.selectors import membership_get
from apps.serving.gateway import log
from apps.serving.models import BackendKind, Deployment, DeploymentMode, DeploymentStatus
from apps.serving.selectors import vllm_server_for
from apps.serving.signals import backend_start_wanted, backend_stop_wanted
from apps.specialists.models import SpecialistKind

logger = logging.getLogger(__name__)

HEALTH_MESSAGE_LIMIT = 500


def routes_channel(project_id: Any) -> str:
    return f"downshift:routes:{project_id}"


def _publish(project_id: Any) -> None:
    redis_client().publish(routes_channel(project_id), str(project_id))


def deployments_changed(*, project_id: Any) -> None:
    """Tell the gateway, once the transaction commits, that the project's routes changed. A failed publish
    is logged, never raised: the change is committed, and the gateway also reloads its routes now and then."""
    transaction.on_commit(lambda: _publish(project_id), robust=True)


def backend_for(evaluation: Evaluation) -> str:
    """Where the candidate runs: an endpoint as it is; a classifier on a CPU host; a LoRA specialist on the
    vLLM server of its base model when SERVING_VLLM_SERVERS names one, else locally (transformers + peft), as
    is a catalog model as it is (no adapter)."""
    if evaluation.endpoint_id:
        return BackendKind.ENDPOINT
    run = evaluation.training_run
    if run is not None and run.kind == SpecialistKind.CLASSIFIER:
        return BackendKind.CLASSIFIER
    return BackendKind.VLLM_LORA if vllm_server_for(run=run) else BackendKind.LOCAL_LORA


def _check_may(project: Project, actor: Actor, what: str, field: str | None = None) -> None:
    """Deploying is deciding what answers the agent's calls: owners and admins (keys with the approve scope)."""
    if actor.api_key is not None:
        if actor.api_key.project_id != project.id:
            raise NotFound(f"No such {what} in this project", field=field)
        if ApiKeyScope.APPROVE not in actor.api_key.scopes:
            raise PermissionDenied(
                "This API key lacks the 'approve' scope; an owner or admin of the project can create a key with it "
                "on the API keys page"
            )
        return
    membership = membership_get(project=project, user=actor.user) if actor.user is not None else None
    if membership is None:
        raise NotFound(f"No such {what} in this project", field=field)
    if not membership.can("approve"):
        raise PermissionDenied(
            f"Only owners and admins of the project deploy a candidate; your role is {membership.get_role_display()}."
        )


def _mode(value: str) -> str:
    if value not in DeploymentMode.values:
        raise DomainError("The mode is shadow or live.", field="mode", status=422, code="invalid")
    return value


def _percent(value: Any, field: str, message: str = "A whole percentage of the calls, 0 to 100.") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise DomainError(message, field=field, status=422, code="invalid")
    return value


def _canary(value: Any, mode: str) -> int:
    _percent(value, "canary_percent", "The canary is a whole percentage of the task's calls, 0 to 100.")
    if mode == DeploymentMode.LIVE and value == 0:
        raise DomainError(
            "Live with a 0% canary answers no call: give it a share of the calls, or run it in shadow.",
            field="canary_percent",
            status=422,
            code="invalid",
        )
    return value


def _check_in_force(approval: SwapApproval, records: list[SwapApproval]) -> None:
    """409 unless `approval` is the task's approval in force, saying what it is instead."""
    if approval.decision == Decision.REJECT:
        raise Conflict("This record rejects its candidate: deploy an approved one.", field="approval")
    if approval.decision == Decision.REQUEST:
        raise Conflict(
            "This record only requests approval: an owner or admin must approve the candidate first.", field="approval"
        )
    if approval.decision == Decision.REVOKE:
        raise Conflict("This record is a revocation: deploy an approval in force.", field="approval")
    if approvals.swap_approval_in_force(records=records) == approval:
        return
    revocation = next((r for r in records if r.revokes_id == approval.id), None)
    if revocation is not None:
        when = revocation.created_at.strftime("%Y-%m-%d %H:%M UTC")
        raise Conflict(
            f"This approval was revoked by {revocation.who} on {when}: the task is back on the LLM.", field="approval"
        )
    raise Conflict("A later approval replaced this one: deploy the approval in force.", field="approval")


def _lock_task(cluster_id: Any) -> tuple[TaskCluster, list[SwapApproval]]:
    cluster = TaskCluster.objects.select_for_update().get(id=cluster_id)
    return cluster, approvals.swap_records(cluster=cluster)


@transaction.atomic
def deployment_create(
    *, approval: SwapApproval, actor: Actor, mode: str | None = None, canary_percent: int | None = None
) -> Deployment:
    """Put the candidate of an approval in force behind its task. The mode and canary share default to the
    rollout approved: shadow first (when asked) and its canary percentage. A task has one deployment at a
    time (409): stop it before deploying again."""
    _check_may(approval.project, actor, "swap approval", field="approval")
    cluster, records = _lock_task(approval.cluster_id)
    _check_in_force(approval, records)
    if cluster.status != ClusterStatus.ACTIVE:
        raise Conflict(
            f"This task is {cluster.get_status_display().lower()}: deploy to an active task.", field="approval"
        )
    current = Deployment.objects.filter(cluster=cluster).exclude(status=DeploymentStatus.STOPPED).first()
    if current is not None:
        raise Conflict(
            f"This task has a deployment already ({current.id}, {current.status}): stop it before deploying again.",
            field="approval",
        )
    rollout = approval.rollout or {}
    mode = _mode(mode if mode is not None else ("shadow" if rollout.get("shadow", True) else "live"))
    canary = _canary(canary_percent if canary_percent is not None else rollout.get("canary_percent", 10), mode)
    evaluation = Evaluation.objects.select_related("training_run").get(id=approval.evaluation_id)
    deployment = Deployment.objects.create(
        project_id=approval.project_id,
        cluster=cluster,
        approval=approval,
        evaluation=evaluation,
        backend=backend_for(evaluation),
        mode=mode,
        canary_percent=canary,
        production_sample_percent=settings.SERVING_PRODUCTION_SAMPLE_PERCENT,
        who=actor.who,
        created_by=actor.user if actor.api_key is None else None,
    )
    if deployment.backend == BackendKind.VLLM_LORA:
        backend_start_wanted.send(sender=Deployment, deployment_id=deployment.id)
    deployments_changed(project_id=approval.project_id)
    return deployment


@transaction.atomic
def deployment_update(
    *,
    deployment: Deployment,
    actor: Actor,
    mode: str | None = None,
    canary_percent: int | None = None,
    production_sample_percent: int | None = None,
) -> Deployment:
    """Change a running deployment's mode, canary share or production sample share (what is not given stays).
    A stopped deployment, or one whose approval is no longer in force, is not changed (409)."""
    _check_may(deployment.project, actor, "deployment")
    if mode is None and canary_percent is None and production_sample_percent is None:
        raise DomainError(
            "Give a mode, a canary_percent or a production_sample_percent.", field="mode", status=422, code="invalid"
        )
    _, records = _lock_task(deployment.cluster_id)
    deployment = Deployment.objects.select_for_update().get(id=deployment.id)
    if deployment.status == DeploymentStatus.STOPPED:
        raise Conflict("This deployment is stopped: create a new one from the approval.", field="id")
    _check_in_force(deployment.approval, records)
    new_mode = _mode(mode) if mode is not None else deployment.mode
    deployment.canary_percent = _canary(
        canary_percent if canary_percent is not None else deployment.canary_percent, new_mode
    )
    deployment.mode = new_mode
    if production_sample_percent is not None:
        deployment.production_sample_percent = _percent(production_sample_percent, "production_sample_percent")
    deployment.save(update_fields=["mode", "canary_percent", "production_sample_percent", "updated_at"])
    deployments_changed(project_id=deployment.project_id)
    return deployment


@transaction.atomic
def deployment_stop(*, deployment: Deployment, actor: Actor) -> Deployment:
    """Take the candidate off its task: its calls go back to the LLM. Stopping a stopped deployment changes
    nothing."""
    _check_may(deployment.project, actor, "deployment")
    deployment = Deployment.objects.select_for_update().get(id=deployment.id)
    if deployment.status == DeploymentStatus.STOPPED:
        return deployment
    deployment.status = DeploymentStatus.STOPPED
    deployment.stopped_at = timezone.now()
    deployment.save(update_fields=["status", "stopped_at", "updated_at"])
    if deployment.backend == BackendKind.VLLM_LORA:
        backend_stop_wanted.send(sender=Deployment, deployment_id=deployment.id)
    deployments_changed(project_id=deployment.project_id)
    return deployment


@transaction.atomic
def deployments_stop_for_revoked(*, approval: SwapApproval, **_: Any) -> int:
    """An approval was revoked (apps.approvals' approval_revoked): its deployments stop at once, saying why,
    and the gateway is told. The revoker's permission was checked by the revocation. Returns how many stopped."""
    stopped = Deployment.objects.filter(approval=approval).exclude(status=DeploymentStatus.STOPPED)
    on_vllm = list(stopped.filter(backend=BackendKind.VLLM_LORA).values_list("id", flat=True))
    count = stopped.update(
        status=DeploymentStatus.STOPPED,
        stopped_at=timezone.now(),
        updated_at=timezone.now(),
        health_message="Stopped: its approval was revoked.",
    )
    for deployment_id in on_vllm:
        backend_stop_wanted.send(sender=Deployment, deployment_id=deployment_id)
    if count:
        deployments_changed(project_id=approval.project_id)
    return count


@transaction.atomic
def deployment_health_record(*, deployment: Deployment, healthy: bool, message: str = "") -> Deployment:
    """A health check's result: a starting deployment whose backend answers is serving; one whose backend is
    down keeps its status but routes to the LLM, saying why in its health message. The gateway is told only
    when where the calls go changes. A stopped deployment is left as it is."""
    deployment = Deployment.objects.select_for_update().get(id=deployment.id)
    if deployment.status == DeploymentStatus.STOPPED:
        return deployment
    routed_before = deployment.routes_to_specialist
    deployment.healthy = healthy
    deployment.health_message = (message.strip() or ("Healthy." if healthy else "The backend did not answer."))[
        :HEALTH_MESSAGE_LIMIT
    ]
    deployment.last_checked_at = timezone.now()
    if healthy and deployment.status == DeploymentStatus.STARTING:
        deployment.status = DeploymentStatus.SERVING
    deployment.save(update_fields=["healthy", "health_message", "last_checked_at", "status", "updated_at"])
    if deployment.routes_to_specialist != routed_before:
        deployments_changed(project_id=deployment.project_id)
    return deployment


def gateway_log_drain(*, batches: int = 10, reclaim_idle_ms: int = 60_000) -> int:
    """The gateway's logged calls (gateway.log's Redis stream) ingested, a batch of GATEWAY_LOG_BATCH at a
    time, at most `batches` per run: each project's records through calls_ingest (validation, curation,
    dedupe), then acknowledged and deleted. A batch whose ingest fails stays pending and is taken again by a
    later run after `reclaim_idle_ms`. A record of a project that no longer exists is dropped. Returns how
    many calls were stored."""
    log.ensure_group()
    consumer = log.consumer_name()
    stored = 0
    for _ in range(batches):
        entries = log.read(count=settings.GATEWAY_LOG_BATCH, consumer=consumer, reclaim_idle_ms=reclaim_idle_ms)
        if not entries:
            break
        by_project: dict[str, list[tuple[bytes, Any]]] = {}
        for entry_id, fields in entries:
            try:
                record = orjson.loads(fields[b"record"])
                by_project.setdefault(fields[b"project"].decode(), []).append((entry_id, record))
            except (KeyError, orjson.JSONDecodeError, UnicodeDecodeError):
                log.done([entry_id])
        for project_id, items in by_project.items():
            uid = as_uuid(project_id)
            project = Project.objects.filter(id=uid).first() if uid is not None else None
            if project is not None:
                try:
                    result = calls_ingest(project=project, batch=Batch(records=list(enumerate(r for _, r in items))))
                except Exception:
                    logger.exception(
                        "gateway log: a batch of %d calls was not ingested; it will be retried", len(items)
                    )
                    continue
                stored += result.accepted
                if result.rejected_count:
                    logger.warning(
                        "gateway log: %d calls were rejected by ingestion: %s",
                        result.rejected_count,
                        [sorted({e["field"] for e in r["errors"]}) for r in result.rejected],
                    )
            log.done([entry_id for entry_id, _ in items])
        if len(entries) < settings.GATEWAY_LOG_BATCH:
            break
    return stored
