"""A small HTTP server on a daemon thread of this process: the demo's stand-in LLM and the tests' fake
OpenAI-compatible servers share its start, stop and address."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class BackgroundServer:
    """`handler` served on `host`:`port` (0: a free port) by a ThreadingHTTPServer on a daemon thread; start()
    and stop(), or use it as a context manager. `base_url` is its OpenAI-style root (…/v1)."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "background-http",
        poll_interval: float = 0.1,
    ) -> None:
        self.host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # where a client on this machine calls it
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
