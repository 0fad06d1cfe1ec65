"""Rate limits and lockouts, counted in Redis so that they hold across processes (settings: LOGIN_*, API_*,
GATEWAY_REQUESTS_PER_KEY_PER_MINUTE).

A rate is a fixed window: one INCR (and an EXPIRE that collects the counter) in one round trip, on a key named
by the window's start, so a request over the limit waits for the next window (its Retry-After). A lockout counts
failures, each one extending it: at `limit` failures it holds until `window_s` after the last one. A limit of 0
turns a check off. When Redis cannot be reached the request is let through (logged): a limit must not take the
product down with it."""

import asyncio
import logging
import math
import time
import weakref
from dataclasses import dataclass
from ipaddress import ip_address

import redis
import redis.asyncio
from django.conf import settings
from django.http import HttpRequest

from apps.common.redis_client import redis_client

logger = logging.getLogger(__name__)

PREFIX = "downshift:throttle:"

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]" = (
    weakref.WeakKeyDictionary()
)


def _window(scope: str, ident: str, window_s: int) -> tuple[str, int]:
    """The counter's name for the current window, and the seconds until that window ends."""
    now = time.time()
    start = int(now // window_s)
    return f"{PREFIX}{scope}:{ident}:{start}", max(1, math.ceil((start + 1) * window_s - now))


def hit(scope: str, ident: str, *, limit: int, window_s: int = 60) -> int:
    """Count one request of `ident`: 0 when it is within `limit` per window, else the seconds to wait."""
    if limit <= 0:
        return 0
    name, retry_after = _window(scope, ident, window_s)
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, window_s)
        count = pipe.execute()[0]
    except redis.RedisError as exc:
        logger.warning("throttle %s not counted: %s", scope, exc)
        return 0
    return 0 if count <= limit else retry_after


def _async_client() -> redis.asyncio.Redis:
    """One asyncio client per event loop (its connections belong to the loop that opened them)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    return client


def locked_for(scope: str, ident: str, *, limit: int) -> int:
    """Seconds until `ident` is unlocked: 0 when it has had fewer than `limit` recent failures."""
    if limit <= 0:
        return 0
    name = f"{PREFIX}{scope}:{ident}"
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.get(name)
        pipe.ttl(name)
        count, ttl = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("lockout %s not read: %s", scope, exc)
        return 0
    return max(1, int(ttl)) if count is not None and int(count) >= limit else 0


def failure_add(scope: str, ident: str, *, window_s: int) -> None:
    name = f"{PREFIX}{scope}:{ident}"
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, window_s)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("lockout %s not counted: %s", scope, exc)


def failures_clear(scope: str, ident: str) -> None:
    try:
        redis_client().delete(f"{PREFIX}{scope}:{ident}")
    except redis.RedisError as exc:
        logger.warning("lockout %s not cleared: %s", scope, exc)


def client_address(request: HttpRequest) -> str:
    """The client's address: the peer's, or when the peer is one of TRUSTED_PROXIES, the last address in
    X-Forwarded-For that is not (proxies append, so what comes before them is the client's to write)."""
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not settings.TRUSTED_PROXIES or not _trusted(address):
        return address
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(forwarded):
        if not _trusted(hop):
            return hop
    return forwarded[0] if forwarded else address


def _trusted(address: str) -> bool:
    try:
        found = ip_address(address)
    except ValueError:
        return False
    return any(found in network for network in settings.TRUSTED_PROXIES)


@dataclass
class _Window:
    start: int
    known: int = 0  # every process's count, as Redis gave it at the last flush
    inflight: int = 0  # this process's calls being added to Redis now
    pending: int = 0  # this process's calls not yet sent
    flushed_at: float = 0.0
    flushing: bool = False


class SharedLimit:
    """A per-window limit counted in Redis across processes, decided in this process without waiting on Redis
    (the gateway's hot path): each process adds its calls to the shared counter in small batches (every
    limit/20 calls, or every `every_s` seconds) off the request path, and learns the total from the answer.
    The limit may be passed by at most one batch per process, the price of not waiting; a Redis error leaves
    the count local to the process."""

    def __init__(self, scope: str, *, window_s: int = 60, every_s: float = 0.25) -> None:
        self.scope, self.window_s, self.every_s = scope, window_s, every_s
        self._windows: dict[str, _Window] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def hit(self, ident: str, *, limit: int) -> int:
        """Count one call of `ident`: 0 when it is within `limit`, else the seconds until the window ends.
        Call from the event loop."""
        if limit <= 0:
            return 0
        now = time.time()
        start = int(now // self.window_s)
        window = self._windows.get(ident)
        if window is None or window.start != start:
            if len(self._windows) > 10_000:
                self._windows = {k: w for k, w in self._windows.items() if w.start == start}
            window = self._windows[ident] = _Window(start)
        if window.known + window.inflight + window.pending >= limit:
            return max(1, math.ceil((start + 1) * self.window_s - now))
        window.pending += 1
        due = window.pending >= max(1, limit // 20) or now - window.flushed_at >= self.every_s
        if due and not window.flushing:
            window.flushing = True
            task = asyncio.get_running_loop().create_task(self._flush(ident, window))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 0

    async def _flush(self, ident: str, window: _Window) -> None:
        name = f"{PREFIX}{self.scope}:{ident}:{window.start}"
        try:
            while window.pending:
                window.inflight, window.pending = window.pending, 0
                try:
                    async with _async_client().pipeline(transaction=False) as apipe:
                        apipe.incrby(name, window.inflight)
                        apipe.expire(name, self.window_s)
                        window.known = int((await apipe.execute())[0])
                except redis.RedisError as exc:
                    logger.warning("throttle %s counted in this process only: %s", self.scope, exc)
                    window.known += window.inflight
                window.inflight = 0
        finally:
            window.flushing = False
            window.flushed_at = time.time()
