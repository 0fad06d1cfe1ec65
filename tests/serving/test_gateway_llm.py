"""Calls no deployment takes go to the upstream LLM as sent and come back unchanged, streamed or not."""

import httpx
import openai
import pytest
from openai import OpenAI

from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.evaluation.fake_openai import FakeOpenAI, completion, error
from tests.serving.gateway import GatewayServer

MESSAGES = [{"role": "system", "content": "Say hello."}, {"role": "user", "content": "Hi"}]


def test_a_plain_call_reaches_the_llm_as_sent_and_its_answer_comes_back(agent: OpenAI, llm: FakeOpenAI) -> None:
    raw = agent.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, temperature=0.3)
    answer = raw.parse()
    assert answer.choices[0].message.content == "positive"
    assert raw.headers["x-downshift-route"] == "llm"
    assert raw.headers["x-downshift-task"] == "none"
    sent = llm.chat_requests()[-1]
    assert sent.body == {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.3}
    assert sent.headers["authorization"] == "Bearer sk-up"


def test_a_streamed_call_is_relayed_as_server_sent_events(agent: OpenAI) -> None:
    with agent.chat.completions.with_streaming_response.create(model="gpt-4o", messages=MESSAGES, stream=True) as raw:
        assert raw.headers["x-downshift-route"] == "llm"
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "positive"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tools_and_response_format_pass_through_unchanged(agent: OpenAI, llm: FakeOpenAI) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "refund", "arguments": '{"amount": 3}'}}
    llm.respond = lambda body: completion({"content": None, "tool_calls": [call]})
    tools = [{"type": "function", "function": {"name": "refund", "parameters": {"type": "object"}}}]
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    answer = agent.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        tools=tools,
        tool_choice="auto",
        response_format=fmt,  # type: ignore[arg-type]
    )
    tool_call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (tool_call.function.name, tool_call.function.arguments) == ("refund", '{"amount": 3}')  # type: ignore[union-attr]
    sent = llm.chat_requests()[-1].body
    assert (sent["model"], sent["tools"], sent["response_format"]) == ("gpt-4o-mini", tools, fmt)


@pytest.mark.parametrize("status", [429, 500])
def test_an_upstream_error_passes_through_with_its_status(agent: OpenAI, llm: FakeOpenAI, status: int) -> None:
    llm.respond = lambda body: error(status, "slow down", **{"Retry-After": "7"})
    with pytest.raises(openai.APIStatusError) as caught:
        agent.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.status_code == status
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.json()["error"]["message"] == "slow down"


def test_no_key_or_a_bad_key_is_401(gateway: GatewayServer) -> None:
    for headers in ({}, {"Authorization": "Bearer ds_nope"}):
        response = httpx.post(f"{gateway.url}/v1/chat/completions", json={}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_key_without_the_gateway_scope_is_403(gateway: GatewayServer, project: Project) -> None:
    _, secret = api_key_create(project=project, name="reader", scopes=["ingest", "read"])
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


def test_bad_requests_are_400_and_an_unserved_model_404(agent: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        agent.chat.completions.create(model="gpt-4o", messages=[])
    with pytest.raises(openai.NotFoundError):
        agent.chat.completions.create(model="claude-3", messages=MESSAGES)  # type: ignore[arg-type]
    response = httpx.post(
        f"{agent.base_url}chat/completions", content=b"{not json", headers={"Authorization": f"Bearer {agent.api_key}"}
    )
    assert response.status_code == 400
    assert httpx.get(f"{agent.base_url}chat/completions").status_code == 405


def test_models_lists_what_the_upstreams_serve(agent: OpenAI) -> None:
    assert [m.id for m in agent.models.list()] == ["gpt-4o"]


def test_a_revoked_key_stops_working(agent: OpenAI, project: Project) -> None:
    from apps.projects.models import ApiKey
    from apps.projects.services import api_key_revoke
    from tests.serving.gateway import until

    agent.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    api_key_revoke(key=ApiKey.objects.get(project=project, name="agent"))

    def refused() -> bool:
        try:
            agent.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        except openai.AuthenticationError:
            return True
        return False

    until(refused, timeout=3)
