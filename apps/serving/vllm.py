"""A small client for a vLLM OpenAI-compatible server that serves LoRA adapters (vllm_lora deployments), over
HTTP: vLLM pins its own CUDA torch and never runs in this virtualenv.

What vLLM answers (vllm/entrypoints/openai/serving_models.py and serve/lora/api_router.py): GET /health at the
server's root is 200 when the engine is up; GET /v1/models lists the base model and every loaded adapter by
its lora_name; POST /v1/load_lora_adapter {"lora_name", "lora_path"} is 200 (plain text) when loaded, 400 when
that name is loaded already ("... has already been loaded"), 404 when no adapter is at the path, 400 or 500
when the engine refuses it; POST /v1/unload_lora_adapter {"lora_name"} is 200, or 404 when no adapter has that
name. Errors are {"error": {"message", "type", "code"}} (older versions: {"object": "error", "message", ...}).
A server started without VLLM_ALLOW_RUNTIME_LORA_UPDATING has neither route: FastAPI's 404 {"detail": "Not
Found"}. Loading and unloading here are idempotent: an adapter already loaded, or already gone, is success."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

LOAD, UNLOAD = "/load_lora_adapter", "/unload_lora_adapter"


class VllmError(Exception):
    """vLLM did not do what was asked; the message says why, for a person."""


class VllmDown(VllmError):
    """The server did not answer, or answered that it is not healthy."""


class AdapterRefused(VllmError):
    """The server answered, and would not load the adapter."""


def server_url(*names: str) -> str | None:
    """The vLLM server (…/v1) SERVING_VLLM_SERVERS gives for the first of a base model's names (its hf_id, its
    name) that it knows; None: no vLLM server serves that model."""
    servers: dict[str, str] = settings.SERVING_VLLM_SERVERS
    return next((servers[name] for name in names if name in servers), None)


def adapter_path(artifact_path: str) -> str:
    """Where the vLLM server finds an adapter this host has at `artifact_path`: under SERVING_VLLM_ARTIFACT_ROOT
    what is under ARTIFACT_ROOT (both mount the same storage); any other path as it is."""
    try:
        relative = Path(artifact_path).relative_to(Path(settings.ARTIFACT_ROOT))
    except ValueError:
        return artifact_path
    return f"{settings.SERVING_VLLM_ARTIFACT_ROOT}/{relative.as_posix()}"


def _reason(response: httpx.Response) -> str:
    """The message of a vLLM error body (either shape), else the start of the body."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        for key in ("message", "detail"):
            if isinstance(error.get(key), str):
                return str(error[key])
    return str(body)[:300]


def _route_missing(response: httpx.Response) -> bool:
    """FastAPI's own 404: the server has no such route (runtime LoRA updating is off), not vLLM's error."""
    if response.status_code != 404:
        return False
    try:
        return response.json() == {"detail": "Not Found"}
    except ValueError:
        return False


@dataclass(frozen=True)
class VllmServer:
    url: str  # its OpenAI root, …/v1
    timeout: float = 3.0  # health and listing
    load_timeout: float = 120.0  # loading an adapter reads its weights

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def _call(self, method: str, url: str, timeout: float, **kwargs: Any) -> httpx.Response:
        try:
            return httpx.request(method, url, timeout=timeout, follow_redirects=False, **kwargs)
        except httpx.TimeoutException as exc:
            raise VllmDown(f"no answer within {timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise VllmDown(f"{type(exc).__name__}") from exc

    def health(self) -> None:
        """Returns when the engine is up; VllmDown otherwise."""
        response = self._call("GET", self.root + "/health", self.timeout)
        if response.status_code != 200:
            raise VllmDown(f"GET /health answered HTTP {response.status_code}")

    def models(self) -> list[str]:
        """The names it serves: the base model, then each loaded adapter's lora_name."""
        response = self._call("GET", self.url + "/models", self.timeout)
        if response.status_code != 200:
            raise VllmDown(f"GET /v1/models answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise VllmDown("GET /v1/models answered something other than JSON") from exc
        data = body.get("data") if isinstance(body, dict) else None
        return [str(card.get("id")) for card in data or [] if isinstance(card, dict)]

    def load_adapter(self, *, name: str, path: str) -> None:
        """The adapter at `path` (as the server sees it) loaded as `name`. Already loaded is success, so a
        retried start never fails; AdapterRefused says why vLLM would not load it."""
        response = self._call("POST", self.url + LOAD, self.load_timeout, json={"lora_name": name, "lora_path": path})
        if response.status_code == 200:
            return
        if _route_missing(response):
            raise AdapterRefused(
                "it does not load adapters at runtime (start it with --enable-lora and the environment "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)"
            )
        if response.status_code == 400 and name in self.models():
            return  # "has already been loaded"
        raise AdapterRefused(f"HTTP {response.status_code}: {_reason(response)}")

    def unload_adapter(self, *, name: str) -> None:
        """The adapter `name` unloaded; one that is not loaded (vLLM's 404) is success."""
        response = self._call("POST", self.url + UNLOAD, self.load_timeout, json={"lora_name": name})
        if response.status_code == 200:
            return
        if _route_missing(response):
            raise VllmError("it does not unload adapters at runtime (VLLM_ALLOW_RUNTIME_LORA_UPDATING is not set)")
        if response.status_code == 404:
            return  # "cannot be found": not loaded, nothing to do
        raise VllmError(f"HTTP {response.status_code}: {_reason(response)}")


def server(url: str) -> VllmServer:
    """A client for the server at `url` (…/v1), with the configured timeouts."""
    return VllmServer(
        url=url, timeout=settings.SERVING_HEALTH_TIMEOUT_S, load_timeout=settings.SERVING_VLLM_LOAD_TIMEOUT_S
    )
