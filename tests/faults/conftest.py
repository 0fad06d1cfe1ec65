"""Fixtures for the fault tests: the environment every subprocess starts from, and a list of things to clean
up that runs whatever happened (servers first, then the data stores, then their folders)."""

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.evaluation.fake_openai import FakeOpenAI, Reply, completion, streamed
from tests.faults.procs import ROOT, PrivateRedis, Tally, manage, post_retrying, scratch_dir

# Each test here finishes in well under this; a hung restart fails the test instead of the CI run.
FAULT_TIMEOUT_S = 240


@pytest.fixture
def base_env() -> dict[str, str]:
    """The environment of the product's processes: this run's settings, minus anything a test sets."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env.update(DJANGO_SETTINGS_MODULE="controlplane.settings", PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@pytest.fixture
def cleanup() -> Iterator[Callable[[Callable[[], Any]], None]]:
    """Register a cleanup; they run last-registered first, each even when an earlier one fails."""
    steps: list[Callable[[], Any]] = []
    yield steps.append
    errors = []
    for step in reversed(steps):
        try:
            step()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def scratch(cleanup: Callable[[Callable[[], Any]], None]) -> Callable[[str], Path]:
    """A temporary folder (for servers' logs), removed after the test."""

    def make(prefix: str) -> Path:
        folder = scratch_dir(prefix)
        cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        return folder

    return make


@pytest.fixture
def private_redis(cleanup: Callable[[Callable[[], Any]], None]) -> PrivateRedis:
    redis = PrivateRedis(scratch_dir("redis"))
    cleanup(redis.cleanup)
    redis.start()
    return redis


def answer_of(body: dict[str, Any]) -> str:
    return f"answer to {body['messages'][-1]['content']}"


def content_of(response: httpx.Response) -> str:
    """The assistant's text in a chat completion, or in a whole stream of chunks (which must end in [DONE])."""
    if not response.headers["content-type"].startswith("text/event-stream"):
        return str(response.json()["choices"][0]["message"]["content"])
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]", "the stream did not end"
    return "".join(orjson.loads(event)["choices"][0]["delta"].get("content") or "" for event in events[:-1])


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    """The upstream LLM: a fake OpenAI server that answers each call by its last message, a little slowly (so
    that calls are in flight when a fault strikes)."""

    def respond(body: dict[str, Any]) -> Reply:
        time.sleep(0.01)
        message = {"content": answer_of(body)}
        return streamed(message) if body.get("stream") else completion(message)

    with FakeOpenAI(respond) as fake:
        yield fake


@pytest.fixture
def gateway_key(transactional_db: None, llm: FakeOpenAI) -> str:
    """A project whose upstream LLM is `llm`, with the pattern-only curation policy (fast ingest of the
    gateway's log); returns an API key with the gateway scope."""
    from apps.curation.selectors import curation_policy_get
    from apps.projects.services import api_key_create, project_create
    from tests.serving.gateway import upstream_endpoint

    project = project_create(slug="faults")
    upstream_endpoint(project, llm.base_url)
    policy = curation_policy_get(project=project)
    policy.ner_model_path = ""
    policy.save()
    return api_key_create(project=project, name="agent", scopes=["gateway"])[1]


def chat(
    client: httpx.Client, url: str, *, secret: str, call_id: str, tally: Tally, deadline: float, stream: bool = False
) -> httpx.Response:
    """One chat completion through the gateway, retried until answered (a stream cut off is retried too, as
    the whole of it is read); the call's id is its Idempotency-Key."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"call {call_id}"}], "stream": stream}
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "Idempotency-Key": call_id}
    return post_retrying(
        client,
        f"{url}/v1/chat/completions",
        tally=tally,
        deadline=deadline,
        content=orjson.dumps(body),
        headers=headers,
    )


def drain_gateway_log(env: dict[str, str]) -> int:
    """The gateway's log (its Redis stream) ingested into the call log, as the worker's beat task does; the
    number of calls stored."""
    script = "from apps.serving.services import gateway_log_drain; print(gateway_log_drain(batches=10_000))"
    return int(manage("shell", "-c", script, env=env).strip().splitlines()[-1])
