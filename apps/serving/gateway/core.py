"""POST /v1/chat/completions and GET /v1/models, as the OpenAI client expects them, authenticated by a
project API key with the 'gateway' scope.

Each call: its task from the request alone, then the route. A call site that carries one task maps to it
(a dict lookup); a call site never seen, or one that carries several tasks, is placed by the nearest task
centre to the request's embedding, which the CPU backend computes (the gateway loads no model); when that
backend does not answer, the call has no task and goes to the LLM.

A live deployment of the task that is routable takes its canary share: its answer is checked by the task's
output kind and returned, or on a failure, timeout or error the call is escalated to the LLM, saying why.
A shadow deployment's share gets the LLM's answer while the specialist answers in the background, and
their agreement is recorded. Everything else goes to the upstream LLM as sent, streamed through as it
arrives. An upstream error is passed through with its status and body: the
gateway never fails a call the LLM alone would have answered. Every answer says `x-downshift-route` (llm,
specialist, escalated or shadow) and `x-downshift-task` (the task id, or "none").

An endpoint deployment is asked at its model endpoint; a classifier or local_lora one at the CPU backend
(serve_specialists, SERVING_LOCAL_BACKEND_URL), a vllm_lora one at its base model's vLLM server
(SERVING_VLLM_SERVERS) with its adapter's name (the deployment's id) as the model, all the same way. A
deployment no backend here serves (one not configured) sends its share to the LLM, logged as "backend not
available in this process".

The answers are server-neutral (Answer): views.py turns them into Django responses, asgi.py sends them as
ASGI events."""

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp
import numpy as np
import orjson
from django.conf import settings
from django.utils import timezone

from apps.common import throttle
from apps.discovery.routing import NearestCentre, RouteBy
from apps.evaluation.endpoint_client import chat_body
from apps.evaluation.scoring import score
from apps.projects.models import ApiKeyScope
from apps.serving.gateway import log, metrics, pool
from apps.serving.gateway.answers import assemble_stream, completion_events, first_message, invalid_reason
from apps.serving.gateway.state import Endpoint, Key, ProjectState, Specialist, cache
from apps.serving.models import DeploymentMode

# A request's headers, names in lower case.
Headers = Mapping[str, str]

logger = logging.getLogger(__name__)

LLM, SPECIALIST, ESCALATED, SHADOW = "llm", "specialist", "escalated", "shadow"
EMBEDDING = "embedding"  # how a task was found when its call site did not say
NOT_HERE = "backend not available in this process"
PASSED_HEADERS = ("retry-after", "x-request-id")
# How long an answer waits for its call record to reach the log's stream; past it the record is left to finish
# in the background (a Redis that hangs must not hang the gateway's answers).
CAPTURE_WAIT_S = 1.0
IDEMPOTENCY_KEY_LIMIT = 150
STREAM_END = b"data: [DONE]"

# The canary draw, in [0, 1): replaceable (a seeded random.Random().random) to make routing reproducible.
draw: Callable[[], float] = random.Random().random

_background: set[asyncio.Future[Any]] = set()
_log_failed_at = -1e9  # when a call record last failed to reach the log
# Calls per API key per minute, counted across processes in Redis without a round trip on the call's path.
_per_key = throttle.SharedLimit("gateway-key")


async def background_settled() -> None:
    """Wait for the background work this event loop started (shadow answers, call records): a server that
    ends the loop with the request (WSGI) would otherwise cancel it."""
    loop = asyncio.get_running_loop()
    while pending := [task for task in _background if task.get_loop() is loop and not task.done()]:
        await asyncio.gather(*pending, return_exceptions=True)


def _in_background(coroutine: Any) -> None:
    task = asyncio.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


@dataclass
class Answer:
    """An HTTP answer, for whichever server asked (views.py for Django, asgi.py for the fast path): a body,
    or `chunks` streamed as they come."""

    status: int
    content_type: str = "application/json"
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None) -> Answer:
    return Answer(status, body=orjson.dumps({"error": {"message": message, "type": kind, "code": code}}))


def _json_answer(data: Any, status: int = 200) -> Answer:
    return Answer(status, body=orjson.dumps(data))


async def _authenticate(headers: Headers) -> Key | Answer:
    header = headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    key = await cache().key(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
    if key is None:
        return error(
            401,
            "Give a valid project API key: Authorization: Bearer <key>.",
            kind="authentication_error",
            code="invalid_api_key",
        )
    if ApiKeyScope.GATEWAY not in key.scopes:
        return error(
            403,
            "This API key lacks the 'gateway' scope; create a key with it on the API keys page.",
            kind="permission_error",
            code="insufficient_scope",
        )
    return key


@dataclass
class Call:
    """What is known of one call, for its answer's headers and its log record."""

    key: Key
    body: dict[str, Any]
    started: float
    timestamp: str
    agent: str
    idempotency_key: str = ""
    task: str = "none"
    route: str = LLM
    metadata: dict[str, Any] = field(default_factory=dict)

    def headers(self, answer: Answer) -> Answer:
        answer.headers["x-downshift-route"] = self.route
        answer.headers["x-downshift-task"] = self.task
        return answer

    def record(self, completion: Any, *, status: int = 200, message: dict[str, Any] | None = None) -> dict[str, Any]:
        """The call as POST /api/v1/calls takes it: the route, task and escalation reason in its metadata."""
        response: Any = completion if first_message(completion) is not None else message
        usage = completion.get("usage") if isinstance(completion, dict) else None
        record: dict[str, Any] = {
            "id": f"gw-{self.idempotency_key or uuid.uuid4()}",
            "agent": self.agent,
            "timestamp": self.timestamp,
            "request": self.body,
            "response": response if status < 400 else None,
            "latency_ms": int((time.monotonic() - self.started) * 1000),
            "metadata": {"downshift_route": self.route, "downshift_task": self.task, **self.metadata},
        }
        if isinstance(usage, dict):
            record["usage"] = {
                k: usage[k] for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)
            }
        if status >= 400 or response is None:
            record["status"] = "error"
            record["response"] = None
            record["error"] = f"upstream answered HTTP {status}" if status >= 400 else "no answer could be read"
        return record

    def log(self, record: dict[str, Any]) -> None:
        """The record appended in the background: for records completed after the answer (shadow, production
        sample, a stream that broke off), which a gateway killed in between loses."""
        metrics.observe(self.key.project_id, record)
        _in_background(asyncio.to_thread(log.append, self.key.project_id, record))

    async def capture(self, record: dict[str, Any]) -> None:
        """The record appended before its answer leaves (up to CAPTURE_WAIT_S): a gateway killed after
        answering has already logged the call. Killed between the two, the client retries and the call is
        logged again; with an Idempotency-Key the retry's record has the same id, so ingest keeps one. While
        the log is failing (Redis down: the record is lost anyway) the answer does not wait for it."""
        global _log_failed_at
        metrics.observe(self.key.project_id, record)
        appended = asyncio.ensure_future(asyncio.to_thread(log.append, self.key.project_id, record))
        _background.add(appended)
        appended.add_done_callback(_background.discard)
        if time.monotonic() - _log_failed_at < CAPTURE_WAIT_S:
            return
        try:
            if not await asyncio.wait_for(asyncio.shield(appended), CAPTURE_WAIT_S):
                _log_failed_at = time.monotonic()
        except TimeoutError:
            _log_failed_at = time.monotonic()
            logger.warning("gateway: a call record is still being logged after %s s; answering", CAPTURE_WAIT_S)


async def _ask_specialist(specialist: Specialist, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(its ChatCompletion, '') or (what it answered if anything, why it cannot be used)."""
    endpoint = specialist.endpoint
    assert endpoint is not None
    try:
        async with pool.session().post(
            endpoint.url,
            data=orjson.dumps(chat_body(body, model=endpoint.model)),
            headers=pool.headers(endpoint.api_key),
            timeout=aiohttp.ClientTimeout(total=settings.GATEWAY_SPECIALIST_TIMEOUT_S),
        ) as response:
            status, answer = response.status, await response.read()
    except TimeoutError:
        return None, "specialist timed out"
    except aiohttp.ClientConnectorError:
        return None, f"specialist backend is down ({endpoint.name} refused the connection)"
    except aiohttp.ClientError as exc:
        return None, f"specialist unreachable ({type(exc).__name__})"
    if status != 200:
        return None, f"specialist answered HTTP {status}"
    completion = _json(answer)
    if completion is None:
        return None, "specialist answer is not JSON"
    message = first_message(completion)
    if message is None:
        return None, "specialist answer is not a chat completion"
    reason = invalid_reason(specialist.output_kind, body, message, labels=specialist.labels)
    return completion, (f"invalid answer: {reason}" if reason else "")


def _specialist_response(call: Call, completion: dict[str, Any]) -> Answer:
    if call.body.get("stream") is True:
        options = call.body.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        events = completion_events(completion, include_usage=usage)

        async def replay() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return _streaming(replay())
    return _json_answer(completion)


def _streaming(chunks: AsyncIterator[bytes], content_type: str = "text/event-stream") -> Answer:
    return Answer(
        200, content_type=content_type, chunks=chunks, headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
    )


def _passed(response: aiohttp.ClientResponse, into: Answer) -> Answer:
    for name, value in response.headers.items():
        if name.lower() in PASSED_HEADERS or name.lower().startswith("x-ratelimit-"):
            into.headers[name.lower()] = value
    return into


async def _shadow(
    call: Call, specialist: Specialist, llm_message: dict[str, Any] | None, record: dict[str, Any]
) -> None:
    """The specialist answers the call in the background; its answer and agreement join the call's record."""
    completion, reason = await _ask_specialist(specialist, call.body)
    message = first_message(completion)
    metadata = record["metadata"]
    if message is not None:
        metadata["downshift_specialist_answer"] = message
    if reason or message is None or llm_message is None:
        metadata["downshift_shadow"] = {"agree": False, "reason": reason or "no LLM answer to compare with"}
    else:
        try:
            metadata["downshift_shadow"] = await _agreement(specialist, call.body, llm_message, message)
        except ValueError as exc:
            metadata["downshift_shadow"] = {"agree": None, "reason": str(exc)}
    metrics.observe(call.key.project_id, record)
    await asyncio.to_thread(log.append, call.key.project_id, record)


async def _agreement(
    specialist: Specialist, body: dict[str, Any], llm_message: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    """{"agree", "reason"}: the specialist's answer scored against the LLM's by the task's output kind."""
    scored = await asyncio.to_thread(score, specialist.output_kind, body, llm_message, message)
    return {"agree": scored.agree, "reason": scored.reason}


async def _production(
    call: Call, upstream: Endpoint, specialist: Specialist, message: dict[str, Any], record: dict[str, Any]
) -> None:
    """A sampled live call (the deployment's production_sample_percent): the LLM is asked the same request in
    the background, unstreamed, and the specialist's answer, already returned, is scored against it; the
    agreement joins the call's record (downshift_production), which the circuit breaker reads."""
    body = {k: v for k, v in call.body.items() if k not in ("stream", "stream_options")}
    verdict: dict[str, Any]
    try:
        async with pool.session().post(
            upstream.url, data=orjson.dumps(body), headers=pool.headers(upstream.api_key)
        ) as response:
            status, answer = response.status, await response.read()
        llm_message = first_message(_json(answer)) if status == 200 else None
        if llm_message is None:
            verdict = {"agree": None, "reason": f"the LLM gave no answer to compare with (HTTP {status})"}
        else:
            record["metadata"]["downshift_llm_answer"] = llm_message
            verdict = await _agreement(specialist, call.body, llm_message, message)
    except (TimeoutError, aiohttp.ClientError) as exc:
        verdict = {"agree": None, "reason": f"the LLM was not reached ({type(exc).__name__})"}
    except ValueError as exc:
        verdict = {"agree": None, "reason": str(exc)}
    record["metadata"]["downshift_production"] = verdict
    call.log(record)


async def _to_llm(call: Call, upstream: Endpoint, raw: bytes, shadow: Specialist | None) -> Answer:
    """The call forwarded to its upstream LLM as sent; the answer returned as it comes, streamed or not."""
    try:
        response = await pool.session().post(upstream.url, data=raw, headers=pool.headers(upstream.api_key))
        content_type = response.headers.get("content-type", "application/json")
        streamed = response.status < 400 and "text/event-stream" in content_type
        body = b"" if streamed else await response.read()
    except TimeoutError:
        await call.capture(call.record(None, status=504))
        return call.headers(error(504, f"The upstream {upstream.name} did not answer in time.", kind="upstream_error"))
    except aiohttp.ClientError as exc:
        await call.capture(call.record(None, status=502))
        return call.headers(
            error(502, f"The upstream {upstream.name} is unreachable ({type(exc).__name__}).", kind="upstream_error")
        )
    if not streamed:
        response.release()
        completion = _json(body)
        record = call.record(completion, status=response.status)
        if shadow is not None and response.status < 400:
            _in_background(_shadow(call, shadow, first_message(completion), record))
        else:
            await call.capture(record)
        answer = Answer(response.status, content_type=content_type, body=body)
        return call.headers(_passed(response, answer))

    def streamed_record(received: bytearray) -> tuple[dict[str, Any], dict[str, Any] | None]:
        message, finish_reason, usage = assemble_stream(bytes(received))
        if message is not None:
            message["finish_reason"] = finish_reason
        return call.record({"usage": usage} if usage else None, message=message), message

    async def relay() -> AsyncIterator[bytes]:
        received, captured = bytearray(), False
        try:
            async for chunk in response.content.iter_any():
                received.extend(chunk)
                if shadow is None and not captured and STREAM_END in received[-len(chunk) - len(STREAM_END) :]:
                    captured = True  # logged before the agent sees the stream end, as an unstreamed answer is
                    await call.capture(streamed_record(received)[0])
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:  # the agent's connection is cut off as well
            logger.warning("gateway: the upstream stream broke off (%s)", type(exc).__name__)
            raise
        finally:
            response.release()
            if not captured:
                record, message = streamed_record(received)
                if shadow is not None and message is not None:
                    _in_background(_shadow(call, shadow, message, record))
                else:
                    call.log(record)

    return call.headers(_passed(response, _streaming(relay(), content_type)))


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _read_body(raw: bytes) -> dict[str, Any] | Answer:
    body = _json(raw)
    if not isinstance(body, dict):
        return error(400, "The body must be a JSON object: a chat.completions request.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error(400, "Name the model: 'model' is required.", code="missing_model")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return error(400, "'messages' must be a non-empty list.", code="missing_messages")
    return body


_embed_warned_at = -1e9


async def _embed(texts: list[str]) -> np.ndarray | None:
    """MiniLM vectors of `texts` from the CPU backend's /embeddings (the gateway loads no model); None when it
    does not answer in GATEWAY_EMBED_TIMEOUT_S or fails."""
    try:
        async with pool.session().post(
            settings.SERVING_LOCAL_BACKEND_URL + "/embeddings",
            data=orjson.dumps({"input": texts, "model": "all-MiniLM-L6-v2"}),
            headers=pool.headers(""),
            timeout=aiohttp.ClientTimeout(total=settings.GATEWAY_EMBED_TIMEOUT_S),
        ) as response:
            if response.status != 200:
                return None
            data = orjson.loads(await response.read())["data"]
        return np.array([item["embedding"] for item in sorted(data, key=lambda d: d["index"])], dtype=np.float32)
    except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        global _embed_warned_at
        if time.monotonic() - _embed_warned_at > 60:  # once a minute, not once a call
            _embed_warned_at = time.monotonic()
            logger.warning("gateway: the CPU backend embeds nothing (%r); calls it must place go to the LLM", exc)
        return None


async def _task_of(state: ProjectState, body: dict[str, Any]) -> tuple[UUID | None, str]:
    """(the call's task or None, how it was found: call_site, embedding or none). A call site that decides
    is a dict lookup; one never seen, or one that carries several tasks, is placed by the nearest task centre
    to the request's embedding, asked of the CPU backend."""
    try:
        route = state.router.by_site(body)
        fallback = state.router.fallback
        if route.task_id is not None or not isinstance(fallback, NearestCentre) or not fallback.owners:
            return route.task_id, route.by
        texts = fallback.texts(body)
    except Exception:  # a request the router cannot read goes to the LLM
        logger.warning("gateway: a request could not be routed", exc_info=False)
        return None, RouteBy.NONE
    parts = await _embed(texts)
    if parts is None:
        return None, RouteBy.NONE
    task = fallback.nearest(fallback.join(texts, parts), state.router.candidates.get(route.call_site))
    return task, (EMBEDDING if task is not None else RouteBy.NONE)


async def chat_completions(headers: Headers, raw: bytes) -> Answer:
    """POST /v1/chat/completions: `headers` (names in lower case) and the raw body as received."""
    started, timestamp = time.monotonic(), timezone.now().isoformat()
    key = await _authenticate(headers)
    if isinstance(key, Answer):
        return key
    if retry_after := _per_key.hit(str(key.id), limit=settings.GATEWAY_REQUESTS_PER_KEY_PER_MINUTE):
        answer = error(
            429,
            f"Too many requests with this API key; try again in {retry_after} s.",
            kind="requests",
            code="rate_limit_exceeded",
        )
        answer.headers["retry-after"] = str(retry_after)
        return answer
    body = _read_body(raw)
    if isinstance(body, Answer):
        return body
    state = await cache().project(key.project_id)
    upstream = await cache().upstream(state, body["model"])
    if upstream is None:
        return error(
            404, f"No upstream endpoint of this project serves the model {body['model']!r}.", code="model_not_found"
        )
    call = Call(
        key=key,
        body=body,
        started=started,
        timestamp=timestamp,
        agent=_agent(headers),
        idempotency_key=_idempotency_key(headers),
    )
    task_id, found_by = await _task_of(state, body)
    specialist = state.specialists.get(task_id) if task_id is not None else None
    if task_id is not None:
        call.task = str(task_id)
        call.metadata["downshift_task_by"] = found_by
    if specialist is None or not specialist.routable or draw() * 100 >= specialist.canary_percent:
        return await _to_llm(call, upstream, raw, None)
    call.metadata["downshift_deployment"] = str(specialist.deployment_id)
    if specialist.endpoint is None:
        call.metadata["downshift_escalation"] = NOT_HERE
        return await _to_llm(call, upstream, raw, None)
    if specialist.mode == DeploymentMode.SHADOW:
        call.route = SHADOW
        return await _to_llm(call, upstream, raw, specialist)
    completion, reason = await _ask_specialist(specialist, body)
    message = first_message(completion)
    if message is not None:
        call.metadata["downshift_specialist_answer"] = message
    if completion is None or reason:
        call.route = ESCALATED
        call.metadata["downshift_escalation"] = reason
        return await _to_llm(call, upstream, raw, None)
    call.route = SPECIALIST
    sampled = specialist.production_sample_percent and draw() * 100 < specialist.production_sample_percent
    if message is not None and sampled:
        _in_background(_production(call, upstream, specialist, message, call.record(completion)))
    else:
        await call.capture(call.record(completion))
    return call.headers(_specialist_response(call, completion))


def _idempotency_key(headers: Headers) -> str:
    """The client's Idempotency-Key (the same on each retry of one call), which names the call's record: a
    long one by its hash, so the record's id stays within ingest's 200 characters."""
    value = headers.get("idempotency-key", "").strip().replace("\x00", "")
    if len(value) > IDEMPOTENCY_KEY_LIMIT:
        value = "sha256-" + hashlib.sha256(value.encode()).hexdigest()
    return value


def _agent(headers: Headers) -> str:
    return (headers.get("x-downshift-agent") or "gateway").strip()[:100] or "gateway"


async def models(headers: Headers) -> Answer:
    """The model names the project's upstream endpoints serve: each exact name among their patterns, and
    the endpoint's own model where a pattern has wildcards."""
    key = await _authenticate(headers)
    if isinstance(key, Answer):
        return key
    state = await cache().project(key.project_id)
    names: dict[str, str] = {}
    for upstream in state.upstreams:
        for pattern in upstream.patterns:
            name = upstream.model if any(char in pattern for char in "*?[") else pattern
            names.setdefault(name, upstream.name)
    data = [{"id": name, "object": "model", "created": 0, "owned_by": owner} for name, owner in names.items()]
    return _json_answer({"object": "list", "data": data})
