"""A stand-in upstream LLM for the demo: a local OpenAI-compatible server that answers POST
/v1/chat/completions by replaying the logged answer of the stored call whose request matches (its messages,
tools and response_format), optionally after the logged latency scaled by `latency_scale`, streamed as
server-sent events when asked to. It is labelled as a stand-in everywhere: every answer carries
`system_fingerprint: "downshift-stand-in"` and the header `x-downshift-stand-in: true`, and the endpoint it
is registered as is named STANDIN_NAME. A request it has no logged answer for is a 404 in OpenAI's error shape.

Pure Python (a threaded http.server), free of Django:

    python -m apps.serving.standin --file demo/agent_logs_sample.jsonl --port 8002
"""

import argparse
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from apps.common.background_server import BackgroundServer

STANDIN_NAME = "Stand-in LLM (replays logged answers)"
FINGERPRINT = "downshift-stand-in"
HEADER = "x-downshift-stand-in"
MATCHED_FIELDS = ("messages", "tools", "response_format")


def request_key(request: dict[str, Any]) -> str:
    """What identifies a logged request: a hash of its messages, tools and response_format, canonically."""
    matched = {name: request.get(name) for name in MATCHED_FIELDS}
    canonical = json.dumps(matched, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    """A logged answer: the assistant message, how long the LLM took, and the tokens it counted."""

    message: dict[str, Any]
    latency_ms: int
    usage: dict[str, int]


def load(path: Path | str) -> dict[str, Recorded]:
    """The logged answers of a JSONL file of calls (the sample's shape: request, response, latency_ms, usage),
    by request_key. Lines without a request and an assistant message are skipped; a repeated request keeps its
    first answer."""
    answers: dict[str, Recorded] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            request, response = record.get("request"), record.get("response")
            if not isinstance(request, dict) or not isinstance(response, dict):
                continue
            usage = record.get("usage") if isinstance(record.get("usage"), dict) else {}
            latency = record.get("latency_ms")
            answers.setdefault(
                request_key(request),
                Recorded(
                    message={"role": "assistant", **response},
                    latency_ms=latency if isinstance(latency, int) and latency > 0 else 0,
                    usage={k: v for k, v in usage.items() if isinstance(v, int)},
                ),
            )
    return answers


def completion(recorded: Recorded, *, model: str) -> dict[str, Any]:
    """The logged answer as a ChatCompletion, `model` echoed from the request."""
    usage = dict(recorded.usage)
    if "prompt_tokens" in usage and "completion_tokens" in usage:
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
    return {
        "id": f"chatcmpl-standin-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "message": recorded.message, "finish_reason": _finish(recorded.message)}],
        "usage": usage,
    }


def _finish(message: dict[str, Any]) -> str:
    return "tool_calls" if message.get("tool_calls") else "stop"


def chunks(answer: dict[str, Any], *, include_usage: bool = False, pieces: int = 4) -> Iterator[bytes]:
    """A ChatCompletion as OpenAI streams it: the role, the content in up to `pieces` parts, each tool call
    (its arguments in two parts), the finish reason, the usage when asked for, then [DONE]."""
    message = answer["choices"][0]["message"]
    base = {key: answer[key] for key in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"

    def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    yield event({"role": "assistant", "content": ""})
    content = message.get("content")
    if isinstance(content, str) and content:
        size = -(-len(content) // pieces)
        for start in range(0, len(content), size):
            yield event({"content": content[start : start + size]})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        arguments = function.get("arguments") or ""
        half = len(arguments) // 2
        yield event(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.get("id") or f"call_{index}",
                        "type": "function",
                        "function": {"name": function.get("name", ""), "arguments": arguments[:half]},
                    }
                ]
            }
        )
        yield event({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
    yield event({}, _finish(message))
    if include_usage:
        data = {**base, "choices": [], "usage": answer["usage"]}
        yield f"data: {json.dumps(data)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def error_body(message: str, *, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


class StandIn(BackgroundServer):
    """The stand-in server on `host`:`port` (0: a free port), in a thread of this process."""

    def __init__(
        self, answers: dict[str, Recorded], *, host: str = "127.0.0.1", port: int = 0, latency_scale: float = 0.0
    ) -> None:
        if latency_scale < 0:
            raise ValueError("latency_scale must be 0 or more")
        self.answers, self.latency_scale = answers, latency_scale
        self.served = 0
        self._lock = threading.Lock()
        super().__init__(_handler(self), host=host, port=port, name="standin-llm")

    def answer(self, body: dict[str, Any]) -> tuple[Recorded | None, dict[str, Any]]:
        """The logged answer for a request and the reply body (an error when there is none)."""
        recorded = self.answers.get(request_key(body))
        if recorded is None:
            message = "The stand-in LLM has no logged answer for this request; it only replays the calls it loaded."
            return None, error_body(message, code="not_found")
        with self._lock:
            self.served += 1
        model = body.get("model")
        return recorded, completion(recorded, model=model if isinstance(model, str) else "")


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so stopping the server leaves no connection behind in a
        # client's pool, and a stream simply ends when the connection closes.

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, error_body(f"The stand-in LLM has no route {self.path}.", code="unknown_url"))
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._json(400, error_body("The body must be a JSON object.", code="invalid_json"))
                return
            recorded, answer = standin.answer(body)
            if recorded is None:
                self._json(404, answer)
                return
            if standin.latency_scale:
                time.sleep(recorded.latency_ms * standin.latency_scale / 1000)
            if body.get("stream"):
                options = body.get("stream_options")
                include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                self._stream(chunks(answer, include_usage=include_usage))
            else:
                self._json(200, answer)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                self._json(404, error_body(f"The stand-in LLM has no route {self.path}.", code="unknown_url"))
                return
            model = {"id": "stand-in", "object": "model", "created": 0, "owned_by": FINGERPRINT}
            self._json(200, {"object": "list", "data": [model]})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header(HEADER, "true")
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, events: Iterator[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header(HEADER, "true")
            self.end_headers()
            for data in events:
                self.wfile.write(data)
                self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in LLM that replays the logged answers of a JSONL file.")
    parser.add_argument("--file", default="demo/agent_logs_sample.jsonl")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--latency-scale", type=float, default=0.0, help="0: answer at once; 1: as slow as logged")
    args = parser.parse_args(argv)
    answers = load(args.file)
    standin = StandIn(answers, host=args.host, port=args.port, latency_scale=args.latency_scale)
    print(f"{STANDIN_NAME}: {len(answers)} logged answers, serving {standin.base_url} (Ctrl-C stops)", flush=True)
    try:
        standin.server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        standin.server.server_close()


if __name__ == "__main__":
    main()
