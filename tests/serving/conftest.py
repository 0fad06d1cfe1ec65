"""An approved candidate (an endpoint, 2 of 40 calls wrong, approved by the owner with the default rollout:
shadow first, a 10% canary) and a client holding a key with the 'approve' and 'read' scopes."""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from openai import OpenAI

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor, swap_approval_decide
from apps.calls.models import Call
from apps.discovery.callsite import call_site
from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.projects.services import api_key_create
from apps.serving.gateway import log
from apps.serving.gateway.state import cache
from apps.serving.models import BackendKind, Deployment
from apps.serving.services import deployment_create, deployment_health_record
from apps.specialists.models import CatalogModel, SpecialistKind, TrainingDataset, TrainingRun
from tests.approvals.factories import endpoint, evaluated, label_task
from tests.evaluation.fake_openai import FakeOpenAI, Reply, completion, streamed
from tests.serving.fake_vllm import FakeVllm
from tests.serving.gateway import GatewayServer, upstream_endpoint


@pytest.fixture(autouse=True)
def no_production_sampling(settings: Any) -> None:
    """New deployments sample none of their live calls to the LLM unless a test asks (the draw is random)."""
    settings.SERVING_PRODUCTION_SAMPLE_PERCENT = 0


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def ready(task: TaskCluster, project: Project) -> Evaluation:
    evaluation = evaluated(task, endpoint(project), wrong=2)
    assert evaluation.verdict == "ready"
    return evaluation


@pytest.fixture
def approve(owner: User) -> Callable[..., SwapApproval]:
    def decide(evaluation: Evaluation, **rollout: object) -> SwapApproval:
        return swap_approval_decide(
            evaluation=evaluation,
            actor=Actor(user=owner),
            decision="approve",
            comment="Good enough.",
            rollout=rollout or None,
        )

    return decide


@pytest.fixture
def approval(ready: Evaluation, approve: Callable[..., SwapApproval]) -> SwapApproval:
    return approve(ready)


@pytest.fixture
def approver_client(client: Client, project: Project, owner: User) -> Client:
    _, secret = api_key_create(project=project, name="release", scopes=["approve", "read"], created_by=owner)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@pytest.fixture
def routes_subscriber(project: Project) -> Iterator[Callable[[], list[str]]]:
    """A real Redis subscriber on the project's routes channel; call it to read what arrived (waits up to 2 s
    for the first message)."""
    connection = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = connection.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"downshift:routes:{project.id}")
    pubsub.get_message(timeout=1)  # the subscription's confirmation

    def received() -> list[str]:
        messages: list[str] = []
        message = pubsub.get_message(timeout=2)
        while message is not None:
            messages.append(message["data"].decode())
            message = pubsub.get_message(timeout=0.2)
        return messages

    yield received
    pubsub.close()
    connection.close()


# --- the gateway ------------------------------------------------------------------------------------------


@pytest.fixture
def gateway(transactional_db: None) -> Iterator[GatewayServer]:
    """The gateway served by uvicorn, with fresh caches and an empty call-log stream."""
    redis.Redis.from_url(settings.REDIS_URL).delete(log.STREAM)
    cache().invalidate()
    server = GatewayServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    """The upstream LLM: answers "positive", streamed when asked to."""

    def respond(body: dict[str, object]) -> Reply:
        return streamed({"content": "positive"}) if body.get("stream") else completion({"content": "positive"})

    with FakeOpenAI(respond) as fake:
        yield fake


@pytest.fixture
def specialist() -> Iterator[FakeOpenAI]:
    """The deployed candidate's server: answers "negative" unless a test says otherwise."""
    with FakeOpenAI(lambda body: completion({"content": "negative"})) as fake:
        yield fake


@pytest.fixture
def upstream(project: Project, llm: FakeOpenAI) -> ModelEndpoint:
    return upstream_endpoint(project, llm.base_url)


@pytest.fixture
def agent(gateway: GatewayServer, project: Project, upstream: ModelEndpoint) -> OpenAI:
    """The official OpenAI client, holding a key with the gateway scope, pointed at the gateway."""
    _, secret = api_key_create(project=project, name="agent", scopes=["gateway"])
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0, timeout=10)


@pytest.fixture
def deploy(
    owner: User, ready: Evaluation, approve: Callable[..., SwapApproval], specialist: FakeOpenAI
) -> Callable[..., Deployment]:
    """Deploy the ready candidate (its endpoint now the specialist fake) and mark it healthy. The task's calls
    get their call site, as discovery gives it, so the gateway's router knows the task."""

    def make(mode: str = "live", canary_percent: int = 100) -> Deployment:
        for stored in Call.objects.filter(task_cluster_id=ready.cluster_id):
            Call.objects.filter(id=stored.id).update(call_site=call_site(stored.request))
        ModelEndpoint.objects.filter(id=ready.endpoint_id).update(base_url=specialist.base_url)
        approval = approve(ready)
        deployment = deployment_create(
            approval=approval, actor=Actor(user=owner), mode=mode, canary_percent=canary_percent
        )
        return deployment_health_record(deployment=deployment, healthy=True)

    return make


# --- the CPU backend (serve_specialists) --------------------------------------------------------------------


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier's folder as training writes it: a logistic regression on MiniLM embeddings."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from workers.jobs.embedding import embed

    texts = ["I love it, wonderful.", "Great product, very happy.", "Terrible, I hate it.", "It was awful, broken."]
    folder = tmp_path_factory.mktemp("classifier")
    model = LogisticRegression().fit(embed(texts), ["positive", "positive", "negative", "negative"])
    joblib.dump(model, folder / "model.joblib")
    return folder


@pytest.fixture
def local_backend(transactional_db: None, settings: Any) -> Iterator[str]:
    """manage.py serve_specialists in a thread, on a free port; the gateway is pointed at it."""
    from apps.serving.management.commands.serve_specialists import specialists
    from workers.serving.local_backend import serve

    server = serve(host="127.0.0.1", port=0, specialists=specialists())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SERVING_LOCAL_BACKEND_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield settings.SERVING_LOCAL_BACKEND_URL
    server.shutdown()
    server.server_close()


def as_classifier(deployment: Deployment, folder: Path) -> Deployment:
    """The deployment's candidate made a trained classifier (its files in `folder`), served by the CPU backend."""
    evaluation = deployment.evaluation
    dataset = TrainingDataset.objects.create(
        project=deployment.project, cluster=deployment.cluster, kind=SpecialistKind.CLASSIFIER
    )
    run = TrainingRun.objects.create(
        project=deployment.project,
        cluster=deployment.cluster,
        dataset=dataset,
        kind=SpecialistKind.CLASSIFIER,
        queue="cpu",
        status=JobStatus.SUCCEEDED,
        artifact_path=str(folder),
    )
    Evaluation.objects.filter(id=evaluation.id).update(endpoint=None, training_run=run)
    Deployment.objects.filter(id=deployment.id).update(backend=BackendKind.CLASSIFIER)
    cache().invalidate()
    return Deployment.objects.get(id=deployment.id)


# --- vLLM (vllm_lora) -------------------------------------------------------------------------------------

VLLM_BASE = "acme/base-1b"


@pytest.fixture
def fake_vllm(settings: Any, tmp_path: Path) -> Iterator[FakeVllm]:
    """A fake vLLM server for VLLM_BASE, named in SERVING_VLLM_SERVERS; it sees ARTIFACT_ROOT (here under
    tmp_path) at /data/artifacts, as a container with the shared volume would."""
    with FakeVllm(base=VLLM_BASE) as fake:
        settings.SERVING_VLLM_SERVERS = {VLLM_BASE: fake.base_url}
        settings.ARTIFACT_ROOT = tmp_path / "artifacts"
        settings.SERVING_VLLM_ARTIFACT_ROOT = "/data/artifacts"
        yield fake


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks sent (after commit) run at once in this process, as with CELERY_TASK_ALWAYS_EAGER."""
    from controlplane.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def as_lora(evaluation: Evaluation, *, base: str = VLLM_BASE, artifact: str = "") -> Evaluation:
    """The evaluation's candidate made a trained LoRA specialist on the catalog model `base`, its adapter at
    `artifact` (default: a folder under ARTIFACT_ROOT)."""
    model = CatalogModel.objects.get_or_create(
        hf_id=base, defaults={"name": "Base 1B", "params_b": 1.0, "licence": "mit", "context_window": 4096}
    )[0]
    dataset = TrainingDataset.objects.create(project=evaluation.project, cluster=evaluation.cluster, kind="lora")
    run = TrainingRun.objects.create(
        project=evaluation.project,
        cluster=evaluation.cluster,
        dataset=dataset,
        kind=SpecialistKind.LORA,
        base_model=model,
        status=JobStatus.SUCCEEDED,
        artifact_path=artifact or str(Path(settings.ARTIFACT_ROOT) / "runs" / "r1" / "adapter"),
    )
    Evaluation.objects.filter(id=evaluation.id).update(endpoint=None, training_run=run)
    return Evaluation.objects.get(id=evaluation.id)
