"""Against a real vLLM server (GPU host): a vllm_lora deployment's adapter is loaded, the gateway asks it a
chat completion, and stopping unloads it. Runs only when DOWNSHIFT_VLLM_TEST_URL names a running server (…/v1)
started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, serving DOWNSHIFT_VLLM_TEST_BASE (the
model's name as the server serves it, loadable here by transformers for a fresh adapter; or give one in
DOWNSHIFT_VLLM_TEST_ADAPTER, a folder the server can read). E.g.

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve Qwen/Qwen2.5-0.5B-Instruct --enable-lora --port 8000
    DOWNSHIFT_VLLM_TEST_URL=http://127.0.0.1:8000/v1 DOWNSHIFT_VLLM_TEST_BASE=Qwen/Qwen2.5-0.5B-Instruct \\
        pytest -m gpu tests/serving/test_vllm_real.py
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from openai import OpenAI

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor
from apps.calls.models import Call
from apps.evaluation.models import Evaluation
from apps.serving.services import deployment_stop
from apps.serving.tasks import deployment_backend_stop_task, gateway_log_drain_task
from apps.serving.vllm import server
from tests.serving.gateway import logged, until
from tests.serving.test_gateway_routes import ask
from tests.serving.test_gateway_vllm import deploy_on_vllm


def _need_vllm() -> tuple[str, str]:
    url, base = os.environ.get("DOWNSHIFT_VLLM_TEST_URL", ""), os.environ.get("DOWNSHIFT_VLLM_TEST_BASE", "")
    if not url or not base:
        reason = "no vLLM server: set DOWNSHIFT_VLLM_TEST_URL (…/v1) and DOWNSHIFT_VLLM_TEST_BASE"
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)
    return url.rstrip("/"), base


def _adapter(base: str, folder: Path) -> str:
    """A LoRA adapter for `base` (fresh, its B matrices zero: it answers as the base does), or the one given."""
    given = os.environ.get("DOWNSHIFT_VLLM_TEST_ADAPTER", "")
    if given:
        return given
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(str(folder))
    return str(folder)


@pytest.mark.gpu
def test_a_real_vllm_serves_a_deployments_adapter_through_the_gateway(
    settings: Any,
    tmp_path: Path,
    agent: OpenAI,
    ready: Evaluation,
    approve: Callable[..., SwapApproval],
    owner: User,
) -> None:
    url, base = _need_vllm()
    settings.SERVING_VLLM_SERVERS = {base: url}
    settings.SERVING_VLLM_ARTIFACT_ROOT = str(settings.ARTIFACT_ROOT)  # the same machine: the same paths
    settings.SERVING_HEALTH_TIMEOUT_S = 30.0
    settings.GATEWAY_SPECIALIST_TIMEOUT_S = 60.0
    adapter = _adapter(base, tmp_path / "adapter")

    deployment = deploy_on_vllm(ready, approve, owner, base=base, artifact=adapter)
    assert deployment.routes_to_specialist, deployment.health_message
    assert str(deployment.id) in server(url).models()

    _, route, _ = ask(agent.with_options(timeout=120), max_tokens=8)
    assert route in ("specialist", "escalated")  # escalated only if the base's answer is not a label
    until(lambda: logged() >= 1)
    gateway_log_drain_task()
    call = Call.objects.get(metadata__downshift_deployment=str(deployment.id))
    assert call.metadata.get("downshift_specialist_answer"), call.metadata  # vLLM answered through the adapter

    deployment_stop(deployment=deployment, actor=Actor(user=owner))
    deployment_backend_stop_task(str(deployment.id))
    assert str(deployment.id) not in server(url).models()
