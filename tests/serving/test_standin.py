"""The stand-in LLM replays the logged answer of the request it is sent, plain or streamed, labelled as a
stand-in, and refuses a request it has no answer for."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from apps.serving.standin import FINGERPRINT, StandIn, load, request_key
from tests.conftest import SAMPLE_PATH


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE_PATH.read_text().splitlines()]


TEXT = next(r for r in _records() if isinstance(r["response"].get("content"), str) and "tools" not in r["request"])
TOOL = next(r for r in _records() if r["response"].get("tool_calls"))


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with StandIn(load(SAMPLE_PATH)) as server:
        yield server


@pytest.fixture
def client(standin: StandIn) -> OpenAI:
    return OpenAI(base_url=standin.base_url, api_key="unused", max_retries=0, timeout=10)


def _sent(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**record["request"], "model": "the-agents-model", **extra}


def test_a_logged_request_gets_the_logged_answer_labelled_as_a_stand_in(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(**_sent(TEXT))
    answer = raw.parse()
    assert answer.choices[0].message.content == TEXT["response"]["content"]
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "the-agents-model"
    assert answer.system_fingerprint == FINGERPRINT
    assert raw.headers["x-downshift-stand-in"] == "true"
    assert answer.usage is not None and answer.usage.prompt_tokens == TEXT["usage"]["prompt_tokens"]


def test_a_streamed_request_gets_the_same_answer_in_chunks(client: OpenAI) -> None:
    sent = _sent(TEXT, stream=True, stream_options={"include_usage": True})
    with client.chat.completions.with_streaming_response.create(**sent) as raw:
        assert raw.headers["x-downshift-stand-in"] == "true"
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == TEXT["response"]["content"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == TEXT["usage"]["completion_tokens"]
    assert {c.system_fingerprint for c in chunks} == {FINGERPRINT}
    assert {c.model for c in chunks} == {"the-agents-model"}


def test_a_logged_tool_call_is_replayed_plain_and_streamed(client: OpenAI) -> None:
    logged = [(c["function"]["name"], c["function"]["arguments"]) for c in TOOL["response"]["tool_calls"]]
    answer = client.chat.completions.create(**_sent(TOOL))
    calls = answer.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == logged
    assert answer.choices[0].finish_reason == "tool_calls"

    streamed: dict[int, list[str]] = {}
    for chunk in client.chat.completions.create(**_sent(TOOL, stream=True)):
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = streamed.setdefault(call.index, ["", ""])
            if call.function and call.function.name:
                entry[0] += call.function.name
            if call.function and call.function.arguments:
                entry[1] += call.function.arguments
    assert [tuple(streamed[i]) for i in sorted(streamed)] == logged


def test_an_unknown_request_is_a_404_in_openais_error_shape(client: OpenAI, standin: StandIn) -> None:
    messages = [{"role": "user", "content": "Nobody ever asked this."}]
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert raised.value.response.headers["x-downshift-stand-in"] == "true"
    assert raised.value.response.json()["error"]["code"] == "not_found"
    assert "no logged answer" in raised.value.response.json()["error"]["message"]
    changed = _sent(TEXT, tools=[{"type": "function", "function": {"name": "x", "parameters": {}}}])
    assert httpx.post(f"{standin.base_url}/chat/completions", json=changed).status_code == 404


def test_the_match_ignores_the_model_and_the_key_order_but_not_the_tools() -> None:
    request = TOOL["request"]
    reordered = {"tools": request["tools"], "messages": request["messages"], "model": "other", "temperature": 0}
    assert request_key(reordered) == request_key(request)
    assert request_key({**request, "tools": request["tools"][:-1]}) != request_key(request)


def test_the_logged_latency_is_scaled(tmp_path: Path) -> None:
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "slow?"}]}
    record = {"request": request, "response": {"role": "assistant", "content": "yes"}, "latency_ms": 400}
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with StandIn(load(path), latency_scale=0.5) as server:
        started = time.monotonic()
        response = httpx.post(f"{server.base_url}/chat/completions", json=request, timeout=10)
        elapsed = time.monotonic() - started
    assert response.json()["choices"][0]["message"]["content"] == "yes"
    assert elapsed >= 0.2
