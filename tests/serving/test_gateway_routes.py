"""A live deployment takes its task's canary share, checked answers only; shadow answers in the background;
every call is logged with its route and drained into ingestion."""

import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from openai import OpenAI

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.serving.gateway import core
from apps.serving.models import Deployment
from apps.serving.tasks import gateway_log_drain_task
from tests.evaluation.fake_openai import FakeOpenAI, Reply, completion
from tests.serving.gateway import logged, until

REVIEW = [
    {"role": "system", "content": "Classify the review as positive or negative."},
    {"role": "user", "content": "Review 1 of product 1: it was awful."},
]
OTHER = [{"role": "system", "content": "Translate to French."}, {"role": "user", "content": "Hello"}]


def ask(agent: OpenAI, messages: list[dict[str, str]] = REVIEW, **extra: Any) -> tuple[str, str, str]:
    raw = agent.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages, **extra)  # type: ignore[arg-type]
    return (
        raw.parse().choices[0].message.content or "",
        raw.headers["x-downshift-route"],
        raw.headers["x-downshift-task"],
    )


def test_a_live_deployment_answers_its_tasks_calls_and_no_other(
    agent: OpenAI, deploy: Callable[..., Deployment], task: TaskCluster, specialist: FakeOpenAI
) -> None:
    deploy("live", 100)
    assert ask(agent) == ("negative", "specialist", str(task.id))
    assert ask(agent, OTHER) == ("positive", "llm", "none")
    assert len(specialist.chat_requests()) == 1


def test_a_specialist_answer_is_streamed_as_server_sent_events(
    agent: OpenAI, deploy: Callable[..., Deployment]
) -> None:
    deploy("live", 100)
    with agent.chat.completions.with_streaming_response.create(model="gpt-4o", messages=REVIEW, stream=True) as raw:  # type: ignore[arg-type]
        assert raw.headers["x-downshift-route"] == "specialist"
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "negative"


def test_a_deployment_made_after_the_first_call_takes_over(agent: OpenAI, deploy: Callable[..., Deployment]) -> None:
    assert ask(agent)[1] == "llm"
    deploy("live", 100)
    until(lambda: ask(agent)[1] == "specialist", timeout=3)


@pytest.mark.parametrize(
    "reply",
    [
        lambda body: completion({"content": "maybe"}),  # not in the label set
        lambda body: completion({"content": ""}),
        lambda body: Reply(500, {"error": {"message": "boom"}}),
        lambda body: Reply(200, "not json"),
    ],
    ids=["label outside the set", "empty", "http 500", "not json"],
)
def test_a_bad_specialist_answer_is_escalated_to_the_llm(
    agent: OpenAI, deploy: Callable[..., Deployment], specialist: FakeOpenAI, reply: Callable[[Any], Reply]
) -> None:
    deploy("live", 100)
    specialist.respond = reply
    assert ask(agent)[:2] == ("positive", "escalated")


def test_a_slow_specialist_is_escalated(
    agent: OpenAI, deploy: Callable[..., Deployment], specialist: FakeOpenAI, settings: Any
) -> None:
    settings.GATEWAY_SPECIALIST_TIMEOUT_S = 0.2

    def slow(body: Any) -> Reply:
        time.sleep(0.5)
        return completion({"content": "negative"})

    deploy("live", 100)
    specialist.respond = slow
    assert ask(agent)[:2] == ("positive", "escalated")


def test_the_canary_share_is_drawn_per_call(
    agent: OpenAI, deploy: Callable[..., Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "draw", random.Random(7).random)
    deploy("live", 50)
    routes = [ask(agent)[1] for _ in range(60)]
    assert 18 <= routes.count("specialist") <= 42  # 50% of 60, within 3 standard deviations
    assert set(routes) == {"specialist", "llm"}


def test_a_canary_of_0_sends_everything_to_the_llm(
    agent: OpenAI, deploy: Callable[..., Deployment], specialist: FakeOpenAI
) -> None:
    deploy("shadow", 0)
    assert {ask(agent)[1] for _ in range(5)} == {"llm"}
    assert specialist.chat_requests() == []


def test_shadow_returns_the_llm_answer_and_the_drain_stores_the_agreement(
    agent: OpenAI, deploy: Callable[..., Deployment], specialist: FakeOpenAI, task: TaskCluster
) -> None:
    deploy("shadow", 100)
    assert ask(agent)[:2] == ("positive", "shadow")
    until(lambda: logged() == 1)
    assert len(specialist.chat_requests()) == 1
    assert gateway_log_drain_task() == 1
    call = Call.objects.get(metadata__downshift_route="shadow")
    assert call.task_cluster_id is None or call.task_cluster_id == task.id
    assert call.metadata["downshift_task"] == str(task.id)
    assert call.metadata["downshift_shadow"]["agree"] is False
    assert call.metadata["downshift_specialist_answer"]["content"] == "negative"
    assert call.response["content"] == "positive"  # type: ignore[index]
    assert logged() == 0


def test_the_drain_ingests_each_call_with_its_route_and_escalation_reason(
    agent: OpenAI, deploy: Callable[..., Deployment], specialist: FakeOpenAI
) -> None:
    before = Call.objects.count()
    deploy("live", 100)
    ask(agent)
    specialist.respond = lambda body: completion({"content": "maybe"})
    ask(agent)
    ask(agent, OTHER)
    until(lambda: logged() == 3)
    assert gateway_log_drain_task() == 3
    calls = Call.objects.order_by("timestamp")[before:]
    assert [c.metadata["downshift_route"] for c in calls] == ["specialist", "escalated", "llm"]
    assert calls[1].metadata["downshift_escalation"] == "invalid answer: label not in the task's label set"
    assert calls[1].response["content"] == "positive"  # type: ignore[index]
    assert logged() == 0
