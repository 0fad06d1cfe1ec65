"""The gateway under test as it runs in production: uvicorn serving controlplane.asgi in a thread, on a free
port (pytest-django's live_server is a WSGI server, which runs each async view in an event loop of its own:
no pooled async client, no true streaming). An upstream LLM and a specialist are fake OpenAI servers."""

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import uvicorn
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connections

from apps.evaluation.models import ModelEndpoint
from apps.evaluation.services import endpoint_create
from apps.projects.models import Project
from apps.serving.gateway import log


class GatewayServer:
    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        config = uvicorn.Config("controlplane.asgi:application", log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def start(self) -> "GatewayServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "uvicorn did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=5)


def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy (then that), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, "timed out waiting"
            return found
        time.sleep(0.02)


def logged() -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).xlen(log.STREAM))


def upstream_endpoint(project: Project, base_url: str) -> ModelEndpoint:
    """The project's upstream LLM (the gateway's fallback for gpt-4o*), served at `base_url`."""
    return endpoint_create(
        project=project,
        name="openai",
        base_url=base_url,
        model="gpt-4o",
        api_key="sk-up",
        upstream=True,
        models=["gpt-4o*"],
    )
