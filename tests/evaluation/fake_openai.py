"""A fake OpenAI-compatible chat.completions server for tests: a real HTTP server on 127.0.0.1 (a free
port) in a thread. It records every request it gets (path, headers, JSON body) and answers through a
`respond(body) -> Reply` function the test sets; `Oracle` is the usual one: the LLM's own answer for
some calls and a wrong one for the others. `Judging` puts a judge model beside it on the same server: the
requests for the judge's model name are graded by the test's own function.

    with FakeOpenAI(Oracle(references, wrong=keys)) as fake:
        endpoint_create(..., base_url=fake.base_url)
"""

import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from apps.common.background_server import BackgroundServer


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def messages_key(messages: Any) -> str:
    """What identifies a test call in a request: its messages, canonically."""
    return json.dumps(messages, sort_keys=True, separators=(",", ":"))


def completion(message: dict[str, Any], *, prompt_tokens: int = 80, completion_tokens: int = 4) -> Reply:
    """A ChatCompletion whose first choice is `message` (an assistant message)."""
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Reply(200, body)


def streamed(message: dict[str, Any], *, model: str = "fake") -> Reply:
    """`message` as OpenAI streams it when asked to (stream: true): server-sent chat.completion.chunk events,
    the content in two pieces, then the finish reason and [DONE]."""
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model}
    content = message.get("content") or ""
    pieces = [{"role": "assistant", "content": ""}, {"content": content[: len(content) // 2]}]
    pieces.append({"content": content[len(content) // 2 :]})
    events = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in pieces]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    text = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return Reply(200, text, content_type="text/event-stream")


def error(status: int, message: str, **headers: str) -> Reply:
    """An error the way OpenAI's API shapes it."""
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error"}}, headers)


class Oracle:
    """Answers each request with the reference given for its messages, or with `wrong_answer` when its
    messages are among `wrong`. A request for messages it was not given is a 400."""

    def __init__(
        self,
        references: dict[str, dict[str, Any]],
        *,
        wrong: Iterable[str] = (),
        wrong_answer: dict[str, Any] | None = None,
    ) -> None:
        self.references = references
        self.wrong = set(wrong)
        self.wrong_answer = wrong_answer or {"content": "I am not sure."}

    def __call__(self, body: dict[str, Any]) -> Reply:
        key = messages_key(body.get("messages"))
        if key not in self.references:
            return error(400, "the fake server was not told about these messages")
        if key in self.wrong:
            return completion(self.wrong_answer)
        reference = {k: v for k, v in self.references[key].items() if k in ("content", "tool_calls")}
        return completion(reference)


def _between(text: str, tag: str) -> str:
    found = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return found.group(1) if found else ""


class Judging:
    """The candidate and a judge on one server. A request for `judge_model` is a judge's: `grade(reference,
    candidate)` gets the reference and candidate answers quoted in its prompt and returns the judge's reply
    text (e.g. '{"score": 4, "reason": "..."}'). Any other request is the candidate's, answered by `candidate`.
    `judged` records each (reference, candidate) pair graded."""

    def __init__(
        self, candidate: Callable[[dict[str, Any]], Reply], grade: Callable[[str, str], str], *, judge_model: str
    ) -> None:
        self.candidate, self.grade, self.judge_model = candidate, grade, judge_model
        self.judged: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        if body.get("model") != self.judge_model:
            return self.candidate(body)
        prompt = body["messages"][-1]["content"]
        pair = (_between(prompt, "reference_answer"), _between(prompt, "candidate_answer"))
        with self._lock:
            self.judged.append(pair)
        return completion({"content": self.grade(*pair)}, completion_tokens=20)


class FakeOpenAI(BackgroundServer):
    def __init__(self, respond: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.respond: Callable[[dict[str, Any]], Reply] = respond or (lambda body: completion({"content": "ok"}))
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                with fake._lock:
                    fake.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                reply = fake.respond(body) if self.path == "/v1/chat/completions" else error(404, "no such route")
                data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                encoded = data.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(encoded)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler, name="fake-openai", poll_interval=0.05)

    def chat_requests(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/chat/completions"]
