"""The gateway's HTTP client to upstream LLMs and specialists: one pooled httpx.AsyncClient per event loop
(under uvicorn, one per process). A pool is bound to the loop that made it, so a WSGI server, which runs
each async view in a loop of its own, would get one per request: serve the gateway with uvicorn."""

import asyncio
import weakref

import httpx
from django.conf import settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        found = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.GATEWAY_UPSTREAM_TIMEOUT_S, connect=10.0),
            limits=httpx.Limits(max_connections=settings.GATEWAY_MAX_CONNECTIONS, max_keepalive_connections=100),
            follow_redirects=False,
        )
        _clients[loop] = found
    return found


def headers(api_key: str) -> dict[str, str]:
    base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    return base | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
