"""bench/gateway.py's moving parts, with no Django: a 0 ms fake upstream LLM and an open-loop load generator.

The fake upstream is a bare asyncio server (HTTP/1.1 with keep-alive) that answers POST .../chat/completions
at once: a fixed completion, or with "stream": true the same answer as server-sent events, one chunk per
write. The load generator speaks HTTP/1.1 over its own keep-alive connections: a request is sent at its
scheduled time whether or not earlier ones have been answered (open loop), and its latency counts from that
time, so a server that falls behind shows it in the figures instead of slowing the load down.
"""

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANSWER = (
    "I checked the order: it shipped on the 14th and is due on the 19th. I have sent the tracking link to the "
    "address on file and noted the customer's question on the ticket."
)
MODEL = "gpt-4o-mini"


def completion_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1764500000,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 38, "total_tokens": 850},
        }
    ).encode()


def stream_events() -> list[bytes]:
    words = ANSWER.split(" ")
    pieces = [" ".join(words[i : i + 4]) + " " for i in range(0, len(words), 4)]
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764500000, "model": MODEL}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    events += [{**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


# --- the fake upstream -------------------------------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    BODY = completion_body()
    PLAIN = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY
    EVENTS = stream_events()
    STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}).encode()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head.split(" ", 2)[:2], body)

    def answer(self, line: list[str], body: bytes) -> None:
        if line[0] == "GET":  # /v1/models or a health check
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            self.transport.write(head % len(self.MODELS) + self.MODELS)
        elif b'"stream":true' in body.replace(b" ", b""):
            self.transport.write(self.STREAM_HEAD)
            for event in self.EVENTS:
                self.transport.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.transport.write(b"0\r\n\r\n")
        else:
            self.transport.write(self.PLAIN)


def serve_upstream(port: int) -> None:
    """Run the fake upstream on 127.0.0.1:port until killed (uvloop when installed)."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port, backlog=2048)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the load generator ------------------------------------------------------------------------------------


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)  # scheduled send -> whole answer read
    first_chunk_ms: list[float] = field(default_factory=list)  # scheduled send -> first body bytes (streams)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    wall_s: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(q * 1000) - 1))]


class Pool:
    """Idle keep-alive connections to one host; a request with none idle opens one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        return await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def give(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(connection)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _exchange(pool: Pool, raw: bytes, scheduled: float, result: Result, stream: bool) -> None:
    connection = await pool.take()
    reader, writer = connection
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = bytearray()
    first: float | None = None
    if "content-length" in headers:
        body += await reader.readexactly(int(headers["content-length"]))
    else:  # chunked
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size + 2)
            if first is None and b"data:" in body:
                first = time.monotonic()
    done = time.monotonic()
    if headers.get("connection", "").lower() == "close":
        writer.close()
    else:
        pool.give(connection)
    if status != 200:
        result.error(f"HTTP {status}")
        return
    if stream and b"[DONE]" not in body:
        result.error("stream ended early")
        return
    if not stream and ANSWER.encode()[:40] not in body:
        result.error("unexpected body")
        return
    result.latencies_ms.append((done - scheduled) * 1000)
    if stream:
        result.first_chunk_ms.append(((first or done) - scheduled) * 1000)


def request_bytes(host: str, port: int, path: str, body: bytes, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {token}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def open_loop(
    *,
    host: str,
    port: int,
    path: str,
    token: str,
    bodies: Callable[[int], bytes],
    rate: float,
    seconds: float,
    stream: bool = False,
    timeout_s: float = 10.0,
) -> Result:
    """Send rate * seconds requests, request i at start + i / rate, each on its own task; wait for all."""
    pool, result = Pool(host, port), Result()
    total = int(rate * seconds)
    tasks = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i: int, scheduled: float) -> None:
        try:
            raw = request_bytes(host, port, path, bodies(i), token)
            await asyncio.wait_for(_exchange(pool, raw, scheduled, result, stream), timeout_s)
        except TimeoutError:
            result.error(f"timeout ({timeout_s:g} s)")
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            result.error(type(exc).__name__)

    began = time.monotonic()
    for i in range(total):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, at)))  # loop.time() is time.monotonic()
        result.sent += 1
    await asyncio.gather(*tasks)
    result.wall_s = time.monotonic() - began
    pool.close()
    return result
