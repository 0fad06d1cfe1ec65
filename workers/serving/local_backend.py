"""The CPU backend for specialists: an OpenAI-compatible HTTP server (threaded http.server) that answers
classifier and LoRA specialists on this host. `POST /v1/chat/completions` (non-streamed), `GET /v1/models`,
`GET /healthz`, and `POST /v1/embeddings` (MiniLM, the model discovery embeds with: the gateway asks it to
place a request from a call site it does not know, and imports no torch itself).

A request's `model` names a specialist; `resolve(name)` says where its files are (a Target) or None. On first
use a specialist is loaded and kept: a classifier's joblib model (with MiniLM, loaded once), or a LoRA
adapter attached to its base model with peft, each base loaded once and its adapters switched with
`set_adapter`. One classifier and one LoRA answer at a time (a lock each, so a classifier's call of a few
milliseconds never waits behind a generation of seconds: in the demo it did, and timed out), each on
`threads` torch threads; answers are greedy.
Django-free: the serve_specialists command gives it `resolve` and `names`."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from workers.jobs.prompts import answer_message, chat_turns, last_user_text, template_support
from workers.jobs.training.config import TrainingError

logger = logging.getLogger(__name__)

CLASSIFIER, LORA = "classifier", "lora"
EMBED_MODEL = "all-MiniLM-L6-v2"
MAX_EMBED_TEXTS = 64


@dataclass(frozen=True)
class Target:
    """Where a specialist's files are: a classifier's folder, or a LoRA adapter's folder and its base
    model's folder."""

    kind: str
    path: str
    base: str = ""


class NotServable(Exception):
    """The specialist cannot be loaded here (files missing, no chat template): said to the caller."""


@dataclass
class _Base:
    model: Any
    tokenizer: Any
    adapters: set[str]


class Specialists:
    """The loaded specialists of this process. `resolve(name)`: the Target a model name stands for, or None;
    `names()`: the model names to list."""

    def __init__(
        self,
        *,
        resolve: Callable[[str], Target | None],
        names: Callable[[], list[str]],
        max_tokens: int = 512,
        threads: int = 1,
    ) -> None:
        self.resolve = resolve
        self.names = names
        self.max_tokens = max_tokens
        self.threads = threads
        self._locks = {CLASSIFIER: threading.Lock(), LORA: threading.Lock()}
        self._classifiers: dict[str, Any] = {}
        self._bases: dict[str, _Base] = {}

    def answer(self, name: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The ChatCompletion for `body`, or None when no specialist has this name."""
        target = self.resolve(name)
        if target is None:
            return None
        tick = time.monotonic()
        with self._locks[CLASSIFIER if target.kind == CLASSIFIER else LORA]:
            self._torch_threads()
            if target.kind == CLASSIFIER:
                message, finish, usage = self._classify(target, body), "stop", None
            else:
                message, finish, usage = self._generate(target, body)
        logger.info("specialists: %s answered in %.0f ms", name, (time.monotonic() - tick) * 1000)
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        if usage is not None:
            completion["usage"] = usage
        return completion

    def embed(self, texts: list[str]) -> list[list[float]]:
        """MiniLM's unit vectors for `texts`, as discovery embeds them (under the classifiers' lock: the same
        model, a few milliseconds)."""
        from workers.jobs.embedding import embed

        with self._locks[CLASSIFIER]:
            self._torch_threads()
            return [[float(v) for v in row] for row in embed(texts)]

    def _torch_threads(self) -> None:
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _classify(self, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        import joblib

        from workers.jobs.embedding import embed

        model = self._classifiers.get(target.path)
        if model is None:
            try:
                model = joblib.load(f"{target.path}/model.joblib")
            except OSError as exc:
                raise NotServable(f"The classifier's files are not on this host ({target.path})") from exc
            self._classifiers[target.path] = model
        text = last_user_text(body.get("messages") or [])
        return {"role": "assistant", "content": str(model.predict(embed([text]))[0])}

    def _base(self, folder: str) -> _Base:
        found = self._bases.get(folder)
        if found is not None:
            return found
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        except OSError as exc:
            raise NotServable(f"The weights of the base model are not on this host ({folder})") from exc
        if not getattr(tokenizer, "chat_template", None):
            raise NotServable(f"{folder} has no chat template")
        model.eval()
        found = self._bases[folder] = _Base(model=model, tokenizer=tokenizer, adapters=set())
        return found

    def _adapter(self, base: _Base, path: str) -> str:
        name = "a" + uuid.uuid5(uuid.NAMESPACE_URL, path).hex
        if name not in base.adapters:
            from peft import PeftModel

            try:
                if isinstance(base.model, PeftModel):
                    base.model.load_adapter(path, adapter_name=name)
                else:
                    base.model = PeftModel.from_pretrained(base.model, path, adapter_name=name)
            except (OSError, ValueError) as exc:
                raise NotServable(f"The specialist's adapter cannot be loaded from {path}: {exc}") from exc
            base.model.eval()
            base.adapters.add(name)
        base.model.set_adapter(name)
        return name

    def _generate(self, target: Target, body: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, int]]:
        import torch

        base = self._base(target.base)
        self._adapter(base, target.path)
        tokenizer = base.tokenizer
        messages, tools = chat_turns(
            body.get("messages") or [],
            support=template_support(tokenizer),
            tools=body.get("tools"),
            tool_choice=body.get("tool_choice"),
            response_format=body.get("response_format"),
        )
        text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        limit = min(asked, self.max_tokens) if isinstance(asked, int) and asked > 0 else self.max_tokens
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        stops = [i for i in {tokenizer.eos_token_id, base.model.generation_config.eos_token_id} if isinstance(i, int)]
        with torch.no_grad():
            out = base.model.generate(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=limit,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
                eos_token_id=stops or None,
            )
        new = out[0][len(ids) :].tolist()
        offered = bool(body.get("tools")) and body.get("tool_choice") != "none"
        message = answer_message(tokenizer.decode(new, skip_special_tokens=True), tools_offered=offered)
        stopped = bool(new) and new[-1] in stops
        finish = "tool_calls" if message.get("tool_calls") else "stop" if stopped or len(new) < limit else "length"
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(new), "total_tokens": len(ids) + len(new)}
        return message, finish, usage


def _handler(specialists: Specialists) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("specialists: " + format, *args)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path in ("/healthz", "/v1/healthz"):
                self._send(200, {"status": "ok"})
            elif path == "/v1/models":
                data = [
                    {"id": n, "object": "model", "created": 0, "owned_by": "downshift"} for n in specialists.names()
                ]
                self._send(200, {"object": "list", "data": data})
            else:
                self._error(404, "Not found.", "not_found")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path not in ("/v1/chat/completions", "/v1/embeddings"):
                self._error(404, "Not found.", "not_found")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            except (ValueError, UnicodeDecodeError):
                body = None
            if path == "/v1/embeddings":
                self._embeddings(body)
                return
            if not isinstance(body, dict) or not isinstance(body.get("model"), str):
                self._error(400, "The body must be a JSON object with a `model`.", "invalid_request")
                return
            if body.get("stream") is True:
                self._error(400, "Streaming is not supported here: ask with stream false.", "stream_unsupported")
                return
            try:
                completion = specialists.answer(body["model"], body)
            except (NotServable, TrainingError) as exc:
                self._error(503, str(exc), "specialist_unavailable")
                return
            except Exception as exc:
                logger.exception("specialists: %s failed", body["model"])
                self._error(500, f"The specialist failed: {exc}", "specialist_error")
                return
            if completion is None:
                self._error(404, f"No specialist is served here as {body['model']!r}.", "model_not_found")
                return
            self._send(200, completion)

        def _embeddings(self, body: Any) -> None:
            texts = body.get("input") if isinstance(body, dict) else None
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                self._error(400, "`input` must be a text or a non-empty list of texts.", "invalid_request")
                return
            if len(texts) > MAX_EMBED_TEXTS:
                self._error(400, f"At most {MAX_EMBED_TEXTS} texts per request.", "invalid_request")
                return
            vectors = specialists.embed(texts)
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
            self._send(200, {"object": "list", "data": data, "model": EMBED_MODEL})

    return Handler


def serve(*, host: str, port: int, specialists: Specialists) -> ThreadingHTTPServer:
    """The server, bound; call serve_forever() on it (and shutdown() from another thread to stop)."""
    server = ThreadingHTTPServer((host, port), _handler(specialists))
    server.daemon_threads = True
    return server
