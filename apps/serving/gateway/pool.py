"""The gateway's HTTP client to upstream LLMs and specialists: one pooled aiohttp session per event loop
(under uvicorn, one per process). A session is bound to the loop that made it, so a WSGI server, which runs
each async view in a loop of its own, gets one per request: serve the gateway with uvicorn.

aiohttp rather than httpx on this path: bench/gateway measured httpx's connection pool (httpcore on anyio)
spending more CPU per call than all of the gateway's own work."""

import asyncio
import weakref

import aiohttp
from django.conf import settings

_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = weakref.WeakKeyDictionary()


def session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    found = _sessions.get(loop)
    if found is None or found.closed:
        found = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.GATEWAY_MAX_CONNECTIONS, ttl_dns_cache=300),
            # Like the upstream's own timeouts: a connection in 10 s, then each read within the limit (a long
            # generation streams for as long as it keeps sending).
            timeout=aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=settings.GATEWAY_UPSTREAM_TIMEOUT_S),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )
        _sessions[loop] = found
    return found


def headers(api_key: str) -> dict[str, str]:
    base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    return base | ({"Authorization": f"Bearer {api_key}"} if api_key else {})


async def close() -> None:
    """Close this event loop's session (the server's shutdown): its connections end cleanly."""
    found = _sessions.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()
