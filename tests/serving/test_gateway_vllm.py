"""A live vllm_lora deployment's calls are asked of its base model's vLLM server, the model being its adapter's
name (the deployment's id), and its answer returned; when the server is down the call is escalated."""

from collections.abc import Callable

from django.contrib.auth.models import User
from openai import OpenAI

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor
from apps.calls.models import Call
from apps.discovery.callsite import call_site
from apps.evaluation.models import Evaluation
from apps.serving.gateway.state import cache
from apps.serving.models import Deployment
from apps.serving.services import deployment_create
from apps.serving.tasks import deployment_backend_start_task
from tests.serving.conftest import VLLM_BASE, as_lora
from tests.serving.fake_vllm import FakeVllm
from tests.serving.test_gateway_routes import ask


def deploy_on_vllm(
    evaluation: Evaluation,
    approve: Callable[..., SwapApproval],
    owner: User,
    *,
    base: str = VLLM_BASE,
    artifact: str = "",
) -> Deployment:
    """Deploy `evaluation` as a LoRA specialist on the fake vLLM, live for every call, its start task run. The
    task's calls get their call site, as discovery gives it, so the gateway's router knows the task."""
    for stored in Call.objects.filter(task_cluster_id=evaluation.cluster_id):
        Call.objects.filter(id=stored.id).update(call_site=call_site(stored.request))
    approval = approve(evaluation)
    as_lora(evaluation, base=base, artifact=artifact)
    deployment = deployment_create(approval=approval, actor=Actor(user=owner), mode="live", canary_percent=100)
    deployment_backend_start_task(str(deployment.id))
    cache().invalidate()
    return Deployment.objects.get(id=deployment.id)


def test_a_live_vllm_deployment_is_answered_by_its_adapter_on_vllm(
    fake_vllm: FakeVllm,
    agent: OpenAI,
    ready: Evaluation,
    approve: Callable[..., SwapApproval],
    owner: User,
) -> None:
    deployment = deploy_on_vllm(ready, approve, owner)
    assert deployment.backend == "vllm_lora" and deployment.routes_to_specialist
    fake_vllm.answers[str(deployment.id)] = "negative"
    assert ask(agent) == ("negative", "specialist", str(deployment.cluster_id))
    assert [chat["model"] for chat in fake_vllm.chats] == [str(deployment.id)]


def test_a_call_is_escalated_when_the_vllm_server_is_down(
    fake_vllm: FakeVllm,
    agent: OpenAI,
    ready: Evaluation,
    approve: Callable[..., SwapApproval],
    owner: User,
) -> None:
    deploy_on_vllm(ready, approve, owner)
    fake_vllm.stop()
    assert ask(agent)[:2] == ("positive", "escalated")
