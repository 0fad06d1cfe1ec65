"""A fake vLLM OpenAI-compatible server with LoRA enabled, for tests: a real HTTP server on 127.0.0.1 in a
thread that answers as vLLM does (vllm/entrypoints/openai/serving_models.py, serve/lora/api_router.py):
GET /health, GET /v1/models (the base model, then each loaded adapter), POST /v1/load_lora_adapter (400 when
the name is loaded already, 404 when nothing is at the path), POST /v1/unload_lora_adapter (404 when not
loaded), and POST /v1/chat/completions answered per model name by `answers` (an adapter not loaded is vLLM's
404). `refuse` makes it refuse a load with vLLM's error; `runtime_updates=False` is a server started without
VLLM_ALLOW_RUNTIME_LORA_UPDATING (no such routes); `restart()` forgets every adapter.

    with FakeVllm(base="tiny/llama") as fake:
        settings.SERVING_VLLM_SERVERS = {"tiny/llama": fake.base_url}
"""

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from apps.common.background_server import BackgroundServer


def vllm_error(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeVllm(BackgroundServer):
    def __init__(self, *, base: str = "base-model", runtime_updates: bool = True) -> None:
        self.base = base
        self.runtime_updates = runtime_updates
        self.adapters: dict[str, str] = {}  # lora_name -> lora_path
        self.answers: dict[str, str] = {}  # model name -> the content it answers
        self.refuse: str | None = None  # a load is refused with this message (vLLM's 400)
        self.loads: list[dict[str, Any]] = []  # every load asked, as sent
        self.chats: list[dict[str, Any]] = []  # every chat completion asked, as sent
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, payload: Any) -> None:
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(200, "")
                elif self.path == "/v1/models":
                    self._send(200, fake.model_list())
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                status, payload = fake.handle(self.path, body)
                self._send(status, payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler, name="fake-vllm", poll_interval=0.05)

    def model_list(self) -> dict[str, Any]:
        with self._lock:
            names = [self.base, *self.adapters]
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "vllm"} for name in names]}

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        lora = path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")
        if lora and not self.runtime_updates:
            return 404, {"detail": "Not Found"}
        with self._lock:
            if path == "/v1/load_lora_adapter":
                return self._load(body)
            if path == "/v1/unload_lora_adapter":
                return self._unload(body)
            if path == "/v1/chat/completions":
                return self._chat(body)
        return 404, {"detail": "Not Found"}

    def _load(self, body: dict[str, Any]) -> tuple[int, Any]:
        name, path = body.get("lora_name"), body.get("lora_path")
        self.loads.append(body)
        if name in self.adapters:
            message = f"The lora adapter '{name}' has already been loaded."
            return 400, vllm_error(message, "InvalidUserInput", 400)
        if not path or path.startswith("/nowhere"):
            return 404, vllm_error(f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError", 404)
        if self.refuse:
            return 400, vllm_error(self.refuse, "BadRequestError", 400)
        self.adapters[str(name)] = str(path)
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def _unload(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("lora_name")
        if name not in self.adapters:
            return 404, vllm_error(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
        del self.adapters[str(name)]
        return 200, f"Success: LoRA adapter '{name}' removed successfully."

    def _chat(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = body.get("model")
        self.chats.append(body)
        if model != self.base and model not in self.adapters:
            return 404, vllm_error(f"The model `{model}` does not exist.", "NotFoundError", 404)
        content = self.answers.get(str(model), f"answer of {model}")
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        usage = {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22}
        body = {"id": "chatcmpl-vllm", "object": "chat.completion", "model": model, "choices": [choice]}
        return 200, {**body, "usage": usage}

    def restart(self) -> None:
        """The server restarted: every adapter loaded at runtime is gone."""
        with self._lock:
            self.adapters.clear()
