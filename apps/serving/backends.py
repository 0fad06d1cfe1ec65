"""Writes about where deployments run: each backend's health recorded (Celery beat), and the vLLM adapter of
a vllm_lora deployment loaded when it starts, reloaded when its server lost it, unloaded when it stops. The
row is the truth: a deployment routes to its specialist only once its backend answered healthy
(services.deployment_health_record)."""

import logging
from uuid import UUID

import httpx
from django.conf import settings

from apps.evaluation import crypto
from apps.serving import vllm
from apps.serving.models import BackendKind, Deployment, DeploymentStatus
from apps.serving.selectors import (
    LOCAL_BACKENDS,
    deployment_active_list,
    vllm_server_for,
    vllm_stopped_deployment_ids,
)
from apps.serving.services import deployment_health_record

logger = logging.getLogger(__name__)


def _vllm_health(deployment: Deployment) -> tuple[bool, str]:
    """(healthy, message) of a vllm_lora deployment: its server answers /health and lists its adapter (the
    deployment's id). An adapter the server does not have (never loaded, or lost in a restart) is loaded;
    loading is idempotent, so a start and a health check that race both succeed."""
    run = deployment.evaluation.training_run
    if run is None or not run.artifact_path:
        return False, "The specialist has no adapter to load into vLLM (its training run has no artifact)."
    url = vllm_server_for(run=run)
    if url is None:
        base = run.base_model.hf_id if run.base_model is not None else "its base model"
        return False, f"No vLLM server serves {base}: name one in SERVING_VLLM_SERVERS."
    server, name = vllm.server(url), str(deployment.id)
    try:
        server.health()
        if name in server.models():
            return True, f"vLLM at {url} serves the adapter."
        server.load_adapter(name=name, path=vllm.adapter_path(run.artifact_path))
    except vllm.VllmDown as exc:
        return False, f"vLLM at {url} is down ({exc})."
    except vllm.VllmError as exc:
        return False, f"vLLM at {url} refused the adapter: {exc}"
    return True, f"vLLM at {url} loaded the adapter."


def _backend_health(deployment: Deployment) -> tuple[bool, str]:
    """(healthy, message) of a deployment's backend."""
    timeout = settings.SERVING_HEALTH_TIMEOUT_S
    if deployment.backend == BackendKind.VLLM_LORA:
        return _vllm_health(deployment)
    if deployment.backend == BackendKind.ENDPOINT:
        endpoint = deployment.evaluation.endpoint
        if endpoint is None:
            return False, "The candidate has no model endpoint."
        url, what = endpoint.base_url.rstrip("/") + "/models", f"The endpoint {endpoint.name}"
        key = crypto.decrypt(endpoint.api_key_encrypted)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
    elif deployment.backend in LOCAL_BACKENDS:
        if not settings.SERVING_LOCAL_BACKEND_URL:
            return False, "No CPU backend is configured (SERVING_LOCAL_BACKEND_URL)."
        url, what, headers = settings.SERVING_LOCAL_BACKEND_URL + "/healthz", "The CPU backend (serve_specialists)", {}
    else:
        return False, f"No backend serves {deployment.backend} deployments."
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return False, f"{what} did not answer within {timeout:g} s ({url})."
    except httpx.HTTPError as exc:
        return False, f"{what} is down ({type(exc).__name__} at {url})."
    if response.status_code != 200:
        return False, f"{what} answered HTTP {response.status_code} ({url})."
    return True, f"{what} answered."


def deployments_health_check() -> int:
    """Celery beat, every SERVING_HEALTH_CHECK_S: each active deployment's backend asked if it is up (its
    health endpoint, or an endpoint's GET /models; a vLLM server also (re)loads the adapter it lacks), the
    answer recorded; then adapters of stopped deployments still on a vLLM server are unloaded. Returns how
    many deployments were checked."""
    checked = 0
    for deployment in deployment_active_list():
        healthy, message = _backend_health(deployment)
        deployment_health_record(deployment=deployment, healthy=healthy, message=message)
        checked += 1
    vllm_adapters_prune()
    return checked


def deployment_backend_start(*, deployment_id: UUID | str) -> Deployment | None:
    """A new vllm_lora deployment's adapter loaded into its vLLM server and the result recorded: serving when
    it is loaded and the server healthy; otherwise its calls stay on the LLM and its health message says why
    (the health check tries again). A deployment stopped before or meanwhile is left, its adapter unloaded."""
    deployment = deployment_active_list().filter(id=deployment_id).first()
    if deployment is None:
        return None
    healthy, message = _backend_health(deployment)
    deployment = deployment_health_record(deployment=deployment, healthy=healthy, message=message)
    if deployment.status == DeploymentStatus.STOPPED:
        deployment_backend_stop(deployment_id=deployment.id)
    return deployment


def deployment_backend_stop(*, deployment_id: UUID | str) -> bool:
    """A stopped vllm_lora deployment's adapter unloaded from its vLLM server (already gone is fine). A server
    that is down or refuses is logged, never raised: the deployment is stopped either way, and the health
    check unloads what is left later (vllm_adapters_prune). Returns whether the server confirmed it."""
    deployment = (
        Deployment.objects.filter(id=deployment_id, status=DeploymentStatus.STOPPED)
        .select_related("evaluation__training_run__base_model")
        .first()
    )
    if deployment is None or deployment.backend != BackendKind.VLLM_LORA:
        return False
    url = vllm_server_for(run=deployment.evaluation.training_run)
    if url is None:
        return False
    try:
        vllm.server(url).unload_adapter(name=str(deployment.id))
    except vllm.VllmError as exc:
        logger.warning("vLLM at %s: the adapter of deployment %s was not unloaded (%s)", url, deployment.id, exc)
        return False
    return True


def vllm_adapters_prune() -> int:
    """The adapters of stopped deployments that a vLLM server still lists (its unload was missed: the server
    was down when the deployment stopped) unloaded. Servers that do not answer are skipped. Returns how many."""
    pruned = 0
    for url in sorted(set(settings.SERVING_VLLM_SERVERS.values())):
        server = vllm.server(url)
        try:
            for deployment_id in vllm_stopped_deployment_ids(names=server.models()):
                server.unload_adapter(name=str(deployment_id))
                pruned += 1
        except vllm.VllmError as exc:
            logger.info("vLLM at %s: stopped deployments' adapters not checked (%s)", url, exc)
    return pruned
