"""A LoRA specialist whose base model has a vLLM server is deployed on it: its adapter is loaded (as the
deployment's id) after commit and the deployment serves; a refusal or a server that is down keeps its calls
on the LLM, saying why; stopping or revoking unloads it; the health check reloads an adapter a restarted
server lost, and unloads what a stop missed."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import SwapApproval
from apps.approvals.services import Actor
from apps.evaluation.models import Evaluation
from apps.serving.models import Deployment
from apps.serving.services import deployment_create, deployment_stop
from apps.serving.tasks import (
    deployment_backend_start_task,
    deployment_backend_stop_task,
    deployments_health_check_task,
)
from tests.serving.conftest import as_lora
from tests.serving.fake_vllm import FakeVllm

ADAPTER_SEEN_BY_VLLM = "/data/artifacts/runs/r1/adapter"


@pytest.fixture
def lora_approval(fake_vllm: FakeVllm, ready: Evaluation, approve: Callable[..., SwapApproval]) -> SwapApproval:
    approval = approve(ready)
    as_lora(ready)
    return approval


@pytest.fixture
def started(lora_approval: SwapApproval, owner: User) -> Deployment:
    """A live vllm_lora deployment whose start task ran."""
    deployment = deployment_create(approval=lora_approval, actor=Actor(user=owner), mode="live", canary_percent=100)
    deployment_backend_start_task(str(deployment.id))
    deployment.refresh_from_db()
    assert deployment.routes_to_specialist
    return deployment


def test_its_adapter_is_loaded_after_commit_and_it_serves(
    lora_approval: SwapApproval,
    owner: User,
    fake_vllm: FakeVllm,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deployment_create(approval=lora_approval, actor=Actor(user=owner))
        assert deployment.backend == "vllm_lora" and deployment.status == "starting"
        assert fake_vllm.adapters == {}  # nothing is sent before the commit
    assert fake_vllm.adapters == {str(deployment.id): ADAPTER_SEEN_BY_VLLM}
    deployment.refresh_from_db()
    assert (deployment.status, deployment.healthy) == ("serving", True)
    assert deployment.health_message == f"vLLM at {fake_vllm.base_url} loaded the adapter."


def test_a_retried_start_finds_the_adapter_loaded_and_is_fine(started: Deployment, fake_vllm: FakeVllm) -> None:
    from apps.serving.vllm import server

    deployment_backend_start_task(str(started.id))
    server(fake_vllm.base_url).load_adapter(name=str(started.id), path=ADAPTER_SEEN_BY_VLLM)  # vLLM answers 400
    started.refresh_from_db()
    assert started.routes_to_specialist
    assert started.health_message == f"vLLM at {fake_vllm.base_url} serves the adapter."
    assert list(fake_vllm.adapters) == [str(started.id)]
    assert len(fake_vllm.loads) == 2  # the retried start saw it listed and did not load it again


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda fake: setattr(fake, "refuse", "LoRA rank 128 is greater than max_lora_rank 64."),
            "refused the adapter: HTTP 400: LoRA rank 128 is greater than max_lora_rank 64.",
        ),
        (
            lambda fake: setattr(fake, "runtime_updates", False),
            "refused the adapter: it does not load adapters at runtime (start it with --enable-lora and the "
            "environment VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)",
        ),
    ],
    ids=["refused", "runtime-updates-off"],
)
def test_an_adapter_vllm_will_not_load_keeps_the_calls_on_the_llm_saying_why(
    lora_approval: SwapApproval, owner: User, fake_vllm: FakeVllm, setup: Callable[[FakeVllm], None], reason: str
) -> None:
    setup(fake_vllm)
    deployment = deployment_create(approval=lora_approval, actor=Actor(user=owner), mode="live", canary_percent=100)
    deployment_backend_start_task(str(deployment.id))
    deployment.refresh_from_db()
    assert (deployment.status, deployment.healthy, deployment.routes_to_specialist) == ("starting", False, False)
    assert deployment.health_message == f"vLLM at {fake_vllm.base_url} {reason}"
    assert fake_vllm.adapters == {}


def test_an_adapter_that_is_not_where_vllm_looks_is_refused_with_vllms_reason(
    fake_vllm: FakeVllm, ready: Evaluation, approve: Callable[..., SwapApproval], owner: User
) -> None:
    approval = approve(ready)
    as_lora(ready, artifact="/nowhere/adapter")
    deployment = deployment_create(approval=approval, actor=Actor(user=owner))
    deployment_backend_start_task(str(deployment.id))
    deployment.refresh_from_db()
    assert not deployment.routes_to_specialist
    assert "refused the adapter: HTTP 404: Loading lora" in deployment.health_message
    assert "No adapter found for /nowhere/adapter" in deployment.health_message


def test_stopping_unloads_its_adapter_after_commit_and_again_is_fine(
    started: Deployment, owner: User, fake_vllm: FakeVllm, eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        deployment_stop(deployment=started, actor=Actor(user=owner))
        assert str(started.id) in fake_vllm.adapters  # only after commit
    assert fake_vllm.adapters == {}
    deployment_backend_stop_task(str(started.id))  # vLLM answers 404: already gone
    assert fake_vllm.adapters == {}


def test_revoking_the_approval_unloads_its_adapter(
    started: Deployment,
    owner: User,
    lora_approval: SwapApproval,
    fake_vllm: FakeVllm,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from apps.approvals.services import swap_approval_revoke

    with django_capture_on_commit_callbacks(execute=True):
        swap_approval_revoke(evaluation=lora_approval.evaluation, actor=Actor(user=owner), comment="Drifted")
    started.refresh_from_db()
    assert started.status == "stopped" and fake_vllm.adapters == {}


def test_a_server_that_is_down_does_not_block_stopping(started: Deployment, owner: User, fake_vllm: FakeVllm) -> None:
    fake_vllm.stop()
    stopped = deployment_stop(deployment=started, actor=Actor(user=owner))
    deployment_backend_stop_task(str(started.id))  # logged, not raised
    assert stopped.status == "stopped"


def test_the_health_check_unloads_an_adapter_whose_unload_was_missed(
    started: Deployment, owner: User, fake_vllm: FakeVllm
) -> None:
    deployment_stop(deployment=started, actor=Actor(user=owner))  # its unload task never ran
    assert str(started.id) in fake_vllm.adapters
    deployments_health_check_task()
    assert fake_vllm.adapters == {}


def test_the_health_check_reloads_an_adapter_a_restarted_server_lost(started: Deployment, fake_vllm: FakeVllm) -> None:
    fake_vllm.restart()
    assert deployments_health_check_task() == 1
    assert list(fake_vllm.adapters) == [str(started.id)]
    started.refresh_from_db()
    assert started.routes_to_specialist
    assert started.health_message == f"vLLM at {fake_vllm.base_url} loaded the adapter."
    deployments_health_check_task()
    started.refresh_from_db()
    assert started.health_message == f"vLLM at {fake_vllm.base_url} serves the adapter."


def test_a_server_that_is_down_is_unhealthy_and_its_calls_go_to_the_llm(
    started: Deployment, fake_vllm: FakeVllm
) -> None:
    fake_vllm.stop()
    deployments_health_check_task()
    started.refresh_from_db()
    assert (started.status, started.healthy, started.routes_to_specialist) == ("serving", False, False)
    assert started.health_message == f"vLLM at {fake_vllm.base_url} is down (ConnectError)."


def test_a_base_model_no_server_serves_anymore_is_unhealthy_saying_so(
    started: Deployment, settings: Any, fake_vllm: FakeVllm
) -> None:
    settings.SERVING_VLLM_SERVERS = {}
    deployments_health_check_task()
    started.refresh_from_db()
    assert not started.routes_to_specialist
    assert started.health_message == "No vLLM server serves acme/base-1b: name one in SERVING_VLLM_SERVERS."
