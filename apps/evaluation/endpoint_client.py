"""Asking a candidate model endpoint (any OpenAI-compatible chat.completions server) for its answer to a
logged call. Plain Python over httpx: no Django, no database.

Transient failures (timeouts, connection errors, 408/409/425/429 and 5xx) are retried a bounded number of
times with doubling waits (a Retry-After header is honoured up to MAX_RETRY_AFTER_S); anything else is an
EndpointError whose message says what to fix. The API key never appears in a message: a server that
echoes it back has it blanked out."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

# The parts of the logged request the candidate gets: what the agent asked, not how the LLM was sampled.
REQUEST_FIELDS = ("messages", "tools", "tool_choice", "response_format")
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
MAX_RETRY_AFTER_S = 60.0
DETAIL_CHARS = 300


class EndpointError(Exception):
    """The endpoint cannot answer (bad key, unknown model, unreachable after every retry, not a chat
    completion): the evaluation fails with this message."""


@dataclass(frozen=True)
class Answer:
    message: dict[str, Any]  # the assistant message: role, content, and tool_calls when it made any
    latency_ms: float  # of the attempt that answered
    input_tokens: int | None
    output_tokens: int | None


def chat_body(request: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The body sent for a logged request: its messages, tools, tool_choice and response_format, the
    endpoint's model, temperature 0."""
    body: dict[str, Any] = {"model": model}
    for name in REQUEST_FIELDS:
        if request.get(name) is not None:
            body[name] = request[name]
    body["temperature"] = 0
    return body


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ChatClient:
    """One endpoint's client; thread-safe (one httpx connection pool shared by the threads)."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key: str,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(headers=headers, timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _blank(self, text: str) -> str:
        return text.replace(self.api_key, "<api key>") if self.api_key else text

    def _detail(self, response: httpx.Response) -> str:
        """The server's own words about an error: OpenAI's error.message, FastAPI's detail, or the text."""
        try:
            data = response.json()
        except ValueError:
            data = None
        text = ""
        if isinstance(data, dict):
            error = data.get("error")
            found = error.get("message") if isinstance(error, dict) else error
            text = str(found or data.get("detail") or data.get("message") or "")
        text = (text or response.text or response.reason_phrase).strip()
        text = self._blank(" ".join(text.split()))
        return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."

    def _refused(self, response: httpx.Response) -> EndpointError:
        status, detail = response.status_code, self._detail(response)
        where = f"{self.name} ({self.url})"
        if status in (401, 403):
            return EndpointError(
                f"{where} refused the API key (HTTP {status}: {detail}). Add the endpoint again with a valid key."
            )
        if status == 404:
            return EndpointError(
                f"{where} answered HTTP 404 ({detail}): check the base URL (it usually ends in /v1) and that "
                f"the server serves the model {self.model!r}."
            )
        return EndpointError(f"{where} rejected the request with HTTP {status}: {detail}")

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after:
            try:
                return min(MAX_RETRY_AFTER_S, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return self.backoff_s * 2**attempt

    def _answer(self, response: httpx.Response, latency_ms: float) -> Answer:
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError(type(message).__name__)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EndpointError(
                f"{self.name} ({self.url}) answered with something that is not a chat completion "
                f"({type(exc).__name__}: {self._blank(str(exc))[:DETAIL_CHARS]}): is it an OpenAI-compatible server?"
            ) from exc
        answer: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            answer["tool_calls"] = message["tool_calls"]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Answer(
            message=answer,
            latency_ms=latency_ms,
            input_tokens=_int(usage.get("prompt_tokens")),
            output_tokens=_int(usage.get("completion_tokens")),
        )

    def complete(self, request: dict[str, Any]) -> Answer:
        """The endpoint's answer to a logged chat.completions request."""
        body = chat_body(request, model=self.model)
        last = ""
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            started = time.perf_counter()
            try:
                response = self.http.post(self.url, json=body)
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.TransportError as exc:
                last = f"could not be reached ({type(exc).__name__}: {self._blank(str(exc))[:DETAIL_CHARS]})"
            else:
                latency_ms = (time.perf_counter() - started) * 1000
                status = response.status_code
                if status < 300:
                    return self._answer(response, latency_ms)
                if status < 500 and status not in TRANSIENT_STATUSES:
                    raise self._refused(response)
                last = f"answered HTTP {status} ({self._detail(response)})"
            if attempt < self.retries:
                self.sleep(self._wait(attempt, response))
        tries = self.retries + 1
        raise EndpointError(
            f"{self.name} ({self.url}) {last} on each of {tries} tr{'ies' if tries > 1 else 'y'}: check that it "
            "is up and can take the load, then start the evaluation again."
        )
