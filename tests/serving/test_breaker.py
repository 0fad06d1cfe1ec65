"""The circuit breaker and production agreement, through the real gateway: a live specialist that starts
escalating, or whose sampled answers stop agreeing with the LLM's, is sent back to the LLM by itself, with an
event, a mail and a webhook; the gateway keeps answering every call; only a person re-enables it."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from openai import OpenAI

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.projects.models import Project
from apps.serving.models import Deployment, ServingEvent
from apps.serving.tasks import deployments_breaker_check_task, gateway_log_drain_task
from tests.evaluation.fake_openai import FakeOpenAI, Reply, completion
from tests.serving.gateway import logged, until
from tests.serving.test_gateway_routes import ask

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook() -> Any:
    """The project's webhook: a fake server that records what it is sent."""
    with FakeOpenAI(lambda body: Reply(200, {"ok": True})) as fake:
        yield fake


@pytest.fixture
def watched(settings: Any, project: Project, owner: User, hook: FakeOpenAI) -> None:
    settings.BREAKER_MIN_CALLS = 4
    settings.BREAKER_MAX_ESCALATION_RATE = 0.25
    settings.BREAKER_MIN_SAMPLES = 5
    owner.email = "owner@example.com"
    owner.save()
    project.webhook_url = f"{hook.base_url}/hooks/downshift"
    project.save()


def send(agent: OpenAI, n: int, already: int) -> list[tuple[str, str, str]]:
    answers = [ask(agent) for _ in range(n)]
    until(lambda: logged() == already + n)
    return answers


def test_escalations_over_the_limit_send_the_task_back_to_the_llm_and_tell_the_owners(
    watched: None, agent: OpenAI, deploy: Callable[..., Deployment], specialist: FakeOpenAI, hook: FakeOpenAI
) -> None:
    deployment = deploy("live", 100)
    assert {a[1] for a in send(agent, 4, 0)} == {"specialist"}
    gateway_log_drain_task()
    assert deployments_breaker_check_task() == 0  # 0 of 4 escalated

    specialist.respond = lambda body: completion({"content": "maybe"})  # now outside the label set
    answers = send(agent, 4, 0)
    assert {(a[0], a[1]) for a in answers} == {("positive", "escalated")}  # every call still answered
    gateway_log_drain_task()
    assert deployments_breaker_check_task() == 1

    deployment.refresh_from_db()
    assert deployment.tripped_at is not None and not deployment.routes_to_specialist
    assert "4 of 8 calls (50%) escalated" in deployment.tripped_reason
    event = ServingEvent.objects.get(deployment=deployment)
    assert event.kind == "breaker_tripped" and event.who == "circuit breaker"
    assert (event.figures["specialist"], event.figures["escalated"]) == (4, 4)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner@example.com"]
    assert "back on the LLM" in mail.outbox[0].subject
    (sent,) = [r for r in hook.requests if r.path == "/v1/hooks/downshift"]
    assert sent.body["event"] == "breaker_tripped" and sent.body["figures"]["escalated"] == 4

    # The gateway heard of it (pub/sub): the task's calls go to the LLM, and the specialist is not asked.
    until(lambda: ask(agent)[1] == "llm", timeout=3)
    asked = len(specialist.chat_requests())
    assert ask(agent)[:2] == ("positive", "llm") and len(specialist.chat_requests()) == asked
    assert deployments_breaker_check_task() == 0  # tripped once, not again


def test_sampled_production_calls_that_stop_agreeing_trip_it(
    watched: None,
    settings: Any,
    agent: OpenAI,
    deploy: Callable[..., Deployment],
    llm: FakeOpenAI,
    task: TaskCluster,
) -> None:
    settings.SERVING_PRODUCTION_SAMPLE_PERCENT = 100
    deployment = deploy("live", 100)
    assert deployment.production_sample_percent == 100
    # The specialist's "negative" is a valid label, so nothing escalates: only the LLM's "positive" says it
    # is wrong.
    assert {a[:2] for a in send(agent, 6, 0)} == {("negative", "specialist")}
    assert len(llm.chat_requests()) == 6  # each call also asked of the LLM, in the background
    gateway_log_drain_task()
    served = Call.objects.filter(metadata__downshift_route="specialist")
    production = [c.metadata["downshift_production"] for c in served]
    assert len(production) == 6 and {p["agree"] for p in production} == {False}
    assert deployments_breaker_check_task() == 1
    deployment.refresh_from_db()
    reason = deployment.tripped_reason
    assert "production agreement 0/6" in reason and "below the approved target" in reason


def test_an_owner_re_enables_it_and_the_breaker_counts_from_then(
    watched: None,
    agent: OpenAI,
    deploy: Callable[..., Deployment],
    specialist: FakeOpenAI,
    approver_client: Client,
) -> None:
    deployment = deploy("live", 100)
    specialist.respond = lambda body: completion({"content": "maybe"})
    send(agent, 4, 0)
    gateway_log_drain_task()
    assert deployments_breaker_check_task() == 1

    url = f"/api/v1/deployments/{deployment.id}/reenable"
    answer = approver_client.post(url)
    assert answer.status_code == 200, answer.content
    assert answer.json()["tripped_at"] is None and answer.json()["routes_to_specialist"] is True
    assert deployments_breaker_check_task() == 0  # the escalations before the re-enable no longer count
    assert approver_client.post(url).status_code == 409  # not tripped any more

    events = approver_client.get("/api/v1/events").json()["items"]
    assert [e["kind"] for e in events] == ["reenabled", "breaker_tripped"]
    assert "API key release" in events[0]["who"]
    only = approver_client.get("/api/v1/events", {"kind": "breaker_tripped"}).json()["items"]
    assert [e["kind"] for e in only] == ["breaker_tripped"]
