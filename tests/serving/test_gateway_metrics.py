"""The gateway's calls in /metrics: counted by project, task and route through the real gateway (uvicorn),
escalations by a reason from a small set, upstream errors by status class, shadow answers by agreement."""

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.serving.gateway import metrics
from apps.serving.models import Deployment
from tests.common.metrics_scrape import Samples, parse, value
from tests.evaluation.fake_openai import FakeOpenAI, Reply, completion
from tests.serving.gateway import GatewayServer, until
from tests.serving.test_gateway_routes import OTHER, ask

REASON_LABELS = {label for _, label in metrics.REASONS} | {metrics.OTHER}


def scrape(gateway: GatewayServer) -> Samples:
    """/metrics as the gateway's uvicorn serves it (through Django, from loopback)."""
    response = httpx.get(f"{gateway.url}/metrics", timeout=10)
    assert response.status_code == 200
    return parse(response.text)


def test_calls_are_counted_by_project_task_and_route(
    agent: OpenAI, gateway: GatewayServer, deploy: Callable[..., Deployment], task: TaskCluster, project: Project
) -> None:
    deploy("live", 100)
    before = scrape(gateway)
    assert ask(agent)[1] == "specialist"
    assert ask(agent, OTHER)[1] == "llm"
    assert ask(agent, OTHER)[1] == "llm"
    after = scrape(gateway)

    def moved(name: str, **labels: Any) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "downshift_gateway_requests_total"
    assert moved(requests, project=project.id, task=task.id, route="specialist") == 1
    assert moved(requests, project=project.id, task="none", route="llm") == 2
    assert moved("downshift_gateway_request_duration_seconds_count", route="llm") == 2
    assert moved("downshift_gateway_request_duration_seconds_bucket", route="llm", le="+Inf") == 2


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda body: completion({"content": "maybe"}), "invalid_answer"),
        (lambda body: Reply(500, {"error": {"message": "boom"}}), "http_error"),
        (lambda body: Reply(200, "not json"), "not_json"),
    ],
    ids=["label outside the set", "http 500", "not json"],
)
def test_an_escalation_counts_its_reason_from_a_small_set(
    agent: OpenAI,
    gateway: GatewayServer,
    deploy: Callable[..., Deployment],
    specialist: FakeOpenAI,
    reply: Callable[[Any], Reply],
    reason: str,
) -> None:
    deploy("live", 100)
    specialist.respond = reply
    before = value(scrape(gateway), "downshift_gateway_escalations_total", reason=reason)
    assert ask(agent)[1] == "escalated"
    samples = scrape(gateway)
    assert value(samples, "downshift_gateway_escalations_total", reason=reason) == before + 1
    reasons = {dict(labels)["reason"] for name, labels in samples if name == "downshift_gateway_escalations_total"}
    assert reasons <= REASON_LABELS


def test_an_upstream_error_is_counted_by_its_status_class(
    agent: OpenAI, gateway: GatewayServer, llm: FakeOpenAI
) -> None:
    llm.respond = lambda body: Reply(503, {"error": {"message": "overloaded"}})
    before = value(scrape(gateway), "downshift_gateway_upstream_errors_total", status_class="5xx")
    with pytest.raises(openai.InternalServerError):
        ask(agent, OTHER)
    assert value(scrape(gateway), "downshift_gateway_upstream_errors_total", status_class="5xx") == before + 1


def test_a_shadow_answer_is_counted_with_its_agreement(
    agent: OpenAI, gateway: GatewayServer, deploy: Callable[..., Deployment], task: TaskCluster, project: Project
) -> None:
    deploy("shadow", 100)
    labels = {"project": project.id, "task": task.id}
    before = scrape(gateway)
    assert ask(agent)[:2] == ("positive", "shadow")  # the specialist said "negative": they disagree

    def counted() -> Samples | None:
        samples = scrape(gateway)
        name, disagree = "downshift_gateway_shadow_answers_total", {"agreement": "disagree", **labels}
        moved = value(samples, name, **disagree) - value(before, name, **disagree)
        return samples if moved == 1 else None

    after = until(counted)
    requests = "downshift_gateway_requests_total"
    assert value(after, requests, route="shadow", **labels) == value(before, requests, route="shadow", **labels) + 1


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("specialist timed out", "timeout"),
        ("specialist backend is down (Fake refused the connection)", "down"),
        ("specialist unreachable (ServerDisconnectedError)", "down"),
        ("specialist answered HTTP 502", "http_error"),
        ("specialist answer is not JSON", "not_json"),
        ("specialist answer is not a chat completion", "not_completion"),
        ("invalid answer: the answer timed out is not a label", "invalid_answer"),
        ("backend not available in this process", "no_backend"),
        ("my card is 4111 1111 1111 1111", "other"),
    ],
)
def test_a_free_text_reason_becomes_one_label(reason: str, label: str) -> None:
    assert metrics.reason_label(reason) == label


def test_a_record_that_cannot_be_read_is_not_counted_and_fails_nothing() -> None:
    metrics.observe("p", {"no": "metadata"})
    metrics.observe("p", {"metadata": None})
