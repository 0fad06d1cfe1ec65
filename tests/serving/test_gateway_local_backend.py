"""A live classifier deployment is answered through the CPU backend; when the backend is down the call is
escalated to the LLM, saying so; the health check records whether each deployment's backend answers."""

from collections.abc import Callable
from pathlib import Path

from openai import OpenAI

from apps.calls.models import Call
from apps.serving.gateway.state import cache
from apps.serving.models import Deployment
from apps.serving.tasks import deployments_health_check_task, gateway_log_drain_task
from tests.evaluation.fake_openai import FakeOpenAI
from tests.serving.conftest import as_classifier
from tests.serving.gateway import logged, until
from tests.serving.test_gateway_routes import ask

REVIEW = [
    {"role": "system", "content": "Classify the review as positive or negative."},
    {"role": "user", "content": "Review 1 of product 1: it was awful."},
]


def test_a_classifier_deployment_is_answered_by_the_cpu_backend(
    local_backend: str, agent: OpenAI, deploy: Callable[..., Deployment], classifier_dir: Path, specialist: FakeOpenAI
) -> None:
    deployment = as_classifier(deploy("live", 100), classifier_dir)
    assert ask(agent, REVIEW) == ("negative", "specialist", str(deployment.cluster_id))
    assert specialist.chat_requests() == []  # the endpoint is no longer the candidate


def test_a_call_is_escalated_when_the_cpu_backend_is_down(
    agent: OpenAI, deploy: Callable[..., Deployment], classifier_dir: Path, settings: object
) -> None:
    settings.SERVING_LOCAL_BACKEND_URL = "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    as_classifier(deploy("live", 100), classifier_dir)
    cache().invalidate()
    assert ask(agent, REVIEW)[:2] == ("positive", "escalated")
    until(lambda: logged() >= 1)
    gateway_log_drain_task()
    call = Call.objects.filter(metadata__downshift_route="escalated").get()
    assert "backend is down" in call.metadata["downshift_escalation"]


def test_the_health_check_records_whether_the_backend_answers(
    local_backend: str, deploy: Callable[..., Deployment], classifier_dir: Path, settings: object
) -> None:
    deployment = as_classifier(deploy("live", 100), classifier_dir)
    assert deployments_health_check_task() == 1
    deployment.refresh_from_db()
    assert deployment.healthy and deployment.routes_to_specialist
    settings.SERVING_LOCAL_BACKEND_URL = "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    deployments_health_check_task()
    deployment.refresh_from_db()
    assert not deployment.healthy
    assert "down" in deployment.health_message
