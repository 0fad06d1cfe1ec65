"""What the gateway routes by, cached in memory per process: API keys (by hash) and each project's router,
deployments and upstream endpoints. Loaded on first use (the ORM through sync_to_async), dropped when a
message arrives on downshift:routes:<project id> (deployment changes and key revocations publish there; a
background thread listens) and after MAX_AGE_S at the latest, as a safety net for a lost message."""

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from apps.common.redis_client import redis_client
from apps.discovery.routing import TaskRouter
from apps.discovery.selectors import task_router_build
from apps.evaluation import crypto
from apps.evaluation.models import ModelEndpoint
from apps.evaluation.selectors import endpoint_list, upstream_for
from apps.projects.models import Project
from apps.projects.services import api_key_authenticate, hash_api_key
from apps.serving.models import BackendKind, Deployment
from apps.serving.selectors import LOCAL_BACKENDS, deployment_routes, vllm_server_for

logger = logging.getLogger(__name__)

CHANNEL_PATTERN = "downshift:routes:*"
LOCAL_BACKEND = "the CPU backend (serve_specialists)"
T = TypeVar("T")


@dataclass(frozen=True)
class Key:
    id: UUID
    project_id: UUID
    scopes: frozenset[str]
    loaded_at: float


@dataclass(frozen=True)
class Endpoint:
    """A model endpoint as the gateway calls it: the decrypted key stays in this process's memory only."""

    name: str
    url: str  # .../chat/completions
    model: str
    api_key: str
    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, endpoint: ModelEndpoint) -> "Endpoint":
        return cls(
            name=endpoint.name,
            url=endpoint.base_url.rstrip("/") + "/chat/completions",
            model=endpoint.model,
            api_key=crypto.decrypt(endpoint.api_key_encrypted),
            patterns=tuple(endpoint.models),
        )


@dataclass(frozen=True)
class Specialist:
    """A task's deployment as the gateway routes by it: `endpoint` is where it is asked (a model endpoint, the
    CPU backend for a classifier or local_lora, or its base model's vLLM server for vllm_lora), None when no
    backend serves it (the CPU backend or the vLLM server not configured): its share of the calls goes to the
    LLM."""

    deployment_id: UUID
    task_id: UUID
    mode: str
    canary_percent: int
    routable: bool
    backend: str
    output_kind: str
    labels: tuple[str, ...]
    endpoint: Endpoint | None
    production_sample_percent: int = 0


@dataclass
class ProjectState:
    project_id: UUID
    router: TaskRouter
    specialists: dict[UUID, Specialist]
    upstreams: list[Endpoint]
    loaded_at: float
    # model name -> its upstream (None: none serves it), filled on first use of each name
    upstream_by_model: dict[str, Endpoint | None] = field(default_factory=dict)


def _closing(load: Callable[..., T]) -> Callable[..., T]:
    """Loads run in a worker thread that Django's ASGI handler makes per request: its database connection
    is closed at once rather than left to CONN_MAX_AGE in a thread that is gone."""

    @functools.wraps(load)
    def run(*args: Any) -> T:
        try:
            return load(*args)
        finally:
            connections.close_all()

    return run


def _target(deployment: Deployment) -> Endpoint | None:
    """Where a deployment is asked: its model endpoint; the CPU backend (serve_specialists) for a trained
    classifier or LoRA specialist when SERVING_LOCAL_BACKEND_URL is set; for vllm_lora, the vLLM server of its
    base model (SERVING_VLLM_SERVERS), its adapter named by the deployment's id. None: not served here (a
    catalog model with examples, a backend not configured)."""
    evaluation, backend = deployment.evaluation, deployment.backend
    if backend == BackendKind.ENDPOINT:
        return Endpoint.of(evaluation.endpoint) if evaluation.endpoint is not None else None
    trained = evaluation.training_run_id is not None
    if backend in LOCAL_BACKENDS and trained and settings.SERVING_LOCAL_BACKEND_URL:
        url, name = settings.SERVING_LOCAL_BACKEND_URL, LOCAL_BACKEND
    elif backend == BackendKind.VLLM_LORA and (vllm_url := vllm_server_for(run=evaluation.training_run)):
        url, name = vllm_url, f"vLLM at {vllm_url}"
    else:
        return None
    return Endpoint(name=name, url=url + "/chat/completions", model=str(deployment.id), api_key="")


def _embedded_elsewhere(texts: Any) -> Any:
    raise RuntimeError("The gateway embeds through the CPU backend (core.task_of), never in its own process.")


@_closing
def _load_project(project_id: UUID) -> ProjectState:
    project = Project.objects.get(id=project_id)
    specialists = {}
    for task_id, deployment in deployment_routes(project_id=project_id).items():
        cluster = deployment.cluster
        specialists[task_id] = Specialist(
            deployment_id=deployment.id,
            task_id=task_id,
            mode=deployment.mode,
            canary_percent=deployment.canary_percent,
            routable=deployment.routes_to_specialist,
            backend=deployment.backend,
            output_kind=cluster.output_kind,
            labels=tuple(str(label) for label in cluster.labels or ()),
            endpoint=_target(deployment),
            production_sample_percent=deployment.production_sample_percent,
        )
    upstreams = [Endpoint.of(e) for e in endpoint_list(project=project).filter(upstream=True).order_by("created_at")]
    return ProjectState(
        project_id=project_id,
        # With a CPU backend to embed, the router keeps the task centres; the gateway embeds through it.
        router=task_router_build(
            project=project, embed=_embedded_elsewhere if settings.SERVING_LOCAL_BACKEND_URL else None
        ),
        specialists=specialists,
        upstreams=upstreams,
        loaded_at=time.monotonic(),
    )


@_closing
def _load_upstream(project_id: UUID, model_name: str) -> Endpoint | None:
    found = upstream_for(project=Project.objects.get(id=project_id), model_name=model_name)
    return Endpoint.of(found) if found is not None else None


@_closing
def _load_key(secret: str) -> Key | None:
    key = api_key_authenticate(secret=secret)
    if key is None:
        return None
    return Key(id=key.id, project_id=key.project_id, scopes=frozenset(key.scopes), loaded_at=time.monotonic())


class Cache:
    """Per process. A load that raced an invalidation of its project is used once, not kept (generations)."""

    def __init__(self, *, max_age_s: float, subscribe: bool = True) -> None:
        self.max_age_s = max_age_s
        self.subscribe = subscribe
        self._lock = threading.Lock()
        self._keys: dict[str, Key] = {}
        self._projects: dict[UUID, ProjectState] = {}
        self._generation: dict[UUID, int] = {}
        self._global_generation = 0
        self._listener: threading.Thread | None = None
        self._subscribed = threading.Event()

    # --- invalidation --------------------------------------------------------------------------------

    def invalidate(self, project_id: UUID | None = None) -> None:
        """Forget one project's state and keys, or (None) everything."""
        with self._lock:
            if project_id is None:
                self._keys.clear()
                self._projects.clear()
                self._global_generation += 1
                return
            self._projects.pop(project_id, None)
            self._generation[project_id] = self._generation.get(project_id, 0) + 1
            for digest in [d for d, k in self._keys.items() if k.project_id == project_id]:
                del self._keys[digest]

    def _generation_of(self, project_id: UUID) -> tuple[int, int]:
        return (self._global_generation, self._generation.get(project_id, 0))

    def _listen(self) -> None:
        while True:
            pubsub = None
            try:
                pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(CHANNEL_PATTERN)
                pubsub.get_message(timeout=5)  # the subscription's confirmation
                self.invalidate()  # whatever was published while not subscribed is lost
                self._subscribed.set()
                for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode() if isinstance(message["channel"], bytes) else ""
                    try:
                        self.invalidate(UUID(channel.rsplit(":", 1)[-1]))
                    except ValueError:
                        continue
            except redis.RedisError as exc:
                logger.warning("gateway: route updates unavailable (%s); retrying", type(exc).__name__)
                self._subscribed.clear()
                time.sleep(1)
            finally:
                if pubsub is not None:
                    pubsub.close()

    def ensure_listening(self) -> None:
        """Start the listener thread once; wait briefly for it to subscribe, so a change published after the
        first answer is not missed."""
        if not self.subscribe or self._listener is not None:
            return
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="gateway-routes", daemon=True)
                self._listener.start()
        self._subscribed.wait(timeout=2)

    # --- reads ---------------------------------------------------------------------------------------

    def _fresh(self, loaded_at: float) -> bool:
        return time.monotonic() - loaded_at < self.max_age_s

    async def key(self, secret: str) -> Key | None:
        digest = hash_api_key(secret)
        found = self._keys.get(digest)
        if found is not None and self._fresh(found.loaded_at):
            return found
        await sync_to_async(self.ensure_listening, thread_sensitive=False)()
        loaded = await sync_to_async(_load_key)(secret)
        if loaded is None:
            return None
        with self._lock:
            self._keys[digest] = loaded
        return loaded

    async def project(self, project_id: UUID) -> ProjectState:
        state = self._projects.get(project_id)
        if state is not None and self._fresh(state.loaded_at):
            return state
        before = self._generation_of(project_id)
        state = await sync_to_async(_load_project)(project_id)
        with self._lock:
            if self._generation_of(project_id) == before:
                self._projects[project_id] = state
        return state

    async def upstream(self, state: ProjectState, model_name: str) -> Endpoint | None:
        if model_name in state.upstream_by_model:
            return state.upstream_by_model[model_name]
        found = await sync_to_async(_load_upstream)(state.project_id, model_name)
        state.upstream_by_model[model_name] = found
        return found


_cache: Cache | None = None
_cache_lock = threading.Lock()


def cache() -> Cache:
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = Cache(max_age_s=settings.GATEWAY_CACHE_MAX_AGE_S)
        return _cache
