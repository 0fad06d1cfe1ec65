"""The gateway's fast path under uvicorn: POST /v1/chat/completions and GET /v1/models answered straight
from the ASGI events, before Django's request handling; every other path goes to Django's ASGI application.

Django's handler costs a gateway call more than the routing itself does: a thread per request for its
thread-sensitive signals, the middleware stack, the URL resolver, a request object. None of it is needed
here: a call is authenticated by its API key, touches no session, no template and no database on its way
(state.py caches what it reads), and its answer is built by apps.serving.gateway.core, the same code the
Django views (views.py) call for servers that are not ASGI. An error the gateway did not expect is logged
and answered 500 with an OpenAI-style error body, as the views would through Django."""

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from apps.serving.gateway import core, pool

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

ROUTES = {"/v1/chat/completions": "POST", "/v1/models": "GET"}


async def _body(receive: Receive) -> bytes | None:
    """The request body; None when the client went away before sending all of it."""
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _send(send: Send, answer: core.Answer) -> None:
    headers = [(b"content-type", answer.content_type.encode("latin-1"))]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers.items()]
    if answer.chunks is None:
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        return
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    chunks = answer.chunks
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()  # the relay's own cleanup (closing the upstream, logging the call) runs either way


async def _answer(scope: Scope, receive: Receive) -> core.Answer | None:
    allowed = ROUTES[scope["path"]]
    if scope["method"] != allowed:
        answer = core.error(405, f"Use {allowed} for {scope['path']}.", code="method_not_allowed")
        answer.headers["allow"] = allowed
        return answer
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    if allowed == "GET":
        return await core.models(headers)
    raw = await _body(receive)
    return None if raw is None else await core.chat_completions(headers, raw)


async def _lifespan(receive: Receive, send: Send) -> None:
    """The server's start and shutdown (Django's handler takes no lifespan events): at shutdown the pooled
    upstream connections are closed."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def gateway(django: ASGIApp) -> ASGIApp:
    """Django's ASGI application with the gateway's routes answered first."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http" or scope["path"] not in ROUTES:
            await django(scope, receive, send)
            return
        try:
            answer = await _answer(scope, receive)
        except Exception:
            logger.exception("gateway: %s %s failed", scope["method"], scope["path"])
            answer = core.error(500, "The gateway failed on this call.", kind="server_error")
        if answer is not None:
            await _send(send, answer)

    return application
