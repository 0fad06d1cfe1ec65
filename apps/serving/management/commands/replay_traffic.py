"""`manage.py replay_traffic --project demo`: the demo's agent traffic. Sends the calls of a JSONL log (the
shipped sample) through the gateway, open-loop at a chosen rate, and counts where each was answered (the
gateway's `x-downshift-route`: llm, specialist, escalated or shadow), so the demo shows calls moving to
specialists as they are deployed.

The upstream LLM is a stand-in (apps.serving.standin) started in this process, replaying the logged answers,
unless --upstream-url names one already running. It is registered as the project's upstream endpoint, named
STANDIN_NAME, when the project has none. The API key it calls with (the 'gateway' scope) is made afresh on
every run, the previous one revoked, and kept in memory only."""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import DomainError
from apps.evaluation.models import ModelEndpoint
from apps.evaluation.selectors import endpoint_list
from apps.evaluation.services import endpoint_base_url_set, endpoint_create
from apps.projects.models import ApiKey, ApiKeyScope, Project
from apps.projects.services import api_key_create, api_key_revoke
from apps.serving.services import deployments_changed
from apps.serving.standin import STANDIN_NAME, StandIn, load

SAMPLE = settings.BASE_DIR / "demo" / "agent_logs_sample.jsonl"
KEY_NAME = "replay traffic"
AGENT = "sample-agent"
START_GATEWAY = "uvicorn controlplane.asgi:application --port 8001 (or run bin/demo, which starts it)"


@dataclass
class Tally:
    """What the replay saw: answers by route, failures by kind, and each answer's latency."""

    sent: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: dict[str, str] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(self.routes.values()) + sum(self.errors.values())

    def line(self) -> str:
        routes = " · ".join(f"{route} {n}" for route, n in sorted(self.routes.items())) or "no answers"
        return f"{self.done}/{self.sent} answered · {routes} · errors {sum(self.errors.values())}"


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of `values` (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


async def replay(
    requests: list[dict[str, Any]],
    *,
    gateway: str,
    secret: str,
    rate: float,
    calls: int,
    tally: Tally,
    on_answer: Callable[[Tally], None],
    timeout_s: float = 120.0,
) -> None:
    """Send `calls` requests (cycling through `requests`) to the gateway, the i-th at i / `rate` seconds from
    the start whatever the earlier ones are doing (open loop), and count their answers in `tally`."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "x-downshift-agent": AGENT}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            response = await client.post("/v1/chat/completions", content=orjson.dumps(body))
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            tally.errors[kind] += 1
            tally.first_errors.setdefault(kind, str(exc) or kind)
        else:
            if response.status_code == 200:
                tally.routes[response.headers.get("x-downshift-route") or "unlabelled"] += 1
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                kind = f"HTTP {response.status_code}"
                tally.errors[kind] += 1
                tally.first_errors.setdefault(kind, response.text[:300])
        on_answer(tally)

    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=timeout_s, limits=limits) as client:
        try:
            start = loop.time()
            for i in range(calls):
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(client, requests[i % len(requests)]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                tally.sent += 1
            if pending:
                await asyncio.wait(pending)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)


class Command(BaseCommand):
    help = "Send a log's calls through the gateway at a chosen rate, answered by a stand-in LLM, and count the routes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="the project's slug, e.g. demo")
        parser.add_argument("--rate", type=float, default=5.0, help="requests per second (default 5)")
        parser.add_argument("--calls", type=int, default=300, help="how many calls to send (default 300)")
        parser.add_argument("--file", type=Path, default=SAMPLE, help="a JSONL file of calls (default: the sample)")
        parser.add_argument("--gateway", default="http://127.0.0.1:8001", help="the gateway's address")
        parser.add_argument("--standin-port", type=int, default=8002, help="the stand-in LLM's port (0: any free)")
        parser.add_argument(
            "--upstream-url", default="", help="a stand-in already running (python -m apps.serving.standin), up to /v1"
        )
        parser.add_argument(
            "--latency-scale", type=float, default=0.0, help="the stand-in's delay: logged latency times this (0)"
        )
        parser.add_argument("--every", type=int, default=0, help="a progress line every N answers (default: 10%%)")

    def handle(self, *args: Any, **options: Any) -> None:
        rate, calls = options["rate"], options["calls"]
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the progress
        if rate <= 0 or calls <= 0:
            raise CommandError("--rate and --calls must be above 0.")
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']!r}; bin/demo creates the demo project.")
        gateway = options["gateway"].rstrip("/").removesuffix("/v1")
        self._check_gateway(gateway)
        requests = self._requests(options["file"])

        standin: StandIn | None = None
        tally = Tally()
        started = time.monotonic()
        try:
            upstream_url = options["upstream_url"]
            if not upstream_url:
                standin = self._standin(options["file"], options["standin_port"], options["latency_scale"])
                upstream_url = standin.base_url
            self._register(project, upstream_url, model=_most_common_model(requests))
            secret = self._key(project)
            every = options["every"] or max(1, calls // 10)
            self.stdout.write(f"sending {calls} calls to {gateway}/v1/chat/completions at {rate:g}/s (Ctrl-C stops)")

            def progress(tally: Tally) -> None:
                if tally.done % every == 0:
                    self.stdout.write(f"  {tally.line()}")

            coroutine = replay(
                requests, gateway=gateway, secret=secret, rate=rate, calls=calls, tally=tally, on_answer=progress
            )
            asyncio.run(coroutine)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        finally:
            if standin is not None:
                standin.stop()
        self._summary(tally, time.monotonic() - started)

    def _standin(self, path: Path, port: int, latency_scale: float) -> StandIn:
        try:
            answers = load(path)
            standin = StandIn(answers, port=port, latency_scale=latency_scale)
        except (OSError, ValueError) as exc:
            raise CommandError(f"The stand-in LLM could not start on port {port}: {exc}") from exc
        standin.start()
        self.stdout.write(f"{STANDIN_NAME}: {len(answers)} logged answers, serving {standin.base_url}")
        return standin

    def _check_gateway(self, gateway: str) -> None:
        try:
            httpx.get(f"{gateway}/healthz", timeout=5)
        except httpx.HTTPError as exc:
            message = f"The gateway at {gateway} is not answering ({exc})."
            raise CommandError(f"{message} Start it: {START_GATEWAY}; or point --gateway at it.") from exc

    @staticmethod
    def _requests(path: Path) -> list[dict[str, Any]]:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        requests = []
        for line in lines:
            record = orjson.loads(line) if line.strip() else None
            if isinstance(record, dict) and isinstance(record.get("request"), dict):
                requests.append(record["request"])
        if not requests:
            raise CommandError(f"{path} holds no calls (JSON lines with a 'request').")
        return requests

    def _register(self, project: Project, url: str, *, model: str) -> ModelEndpoint | None:
        """The stand-in as the project's upstream endpoint: created when the project has none, moved to `url`
        when it is there already; left alone when the project has an upstream endpoint of its own."""
        endpoints = endpoint_list(project=project)
        endpoint = endpoints.filter(name=STANDIN_NAME).first()
        try:
            if endpoint is not None:
                endpoint = endpoint_base_url_set(endpoint=endpoint, base_url=url)
            elif endpoints.filter(upstream=True).exists():
                names = ", ".join(endpoints.filter(upstream=True).values_list("name", flat=True))
                self.stdout.write(f"the project's own upstream endpoint ({names}) answers the calls, not the stand-in")
                return None
            else:
                endpoint = endpoint_create(
                    project=project, name=STANDIN_NAME, base_url=url, model=model, upstream=True, models=["*"]
                )
                self.stdout.write(f"registered {STANDIN_NAME!r} as the project's upstream endpoint ({url})")
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        deployments_changed(project_id=project.id)  # the gateway reloads the project's upstream endpoints
        return endpoint

    @staticmethod
    def _key(project: Project) -> str:
        for old in ApiKey.objects.filter(project=project, name=KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(key=old)
        _, secret = api_key_create(project=project, name=KEY_NAME, scopes=[ApiKeyScope.GATEWAY])
        return secret

    def _summary(self, tally: Tally, elapsed_s: float) -> None:
        routes = ", ".join(f"{route} {n}" for route, n in sorted(tally.routes.items())) or "none"
        errors = ", ".join(f"{kind} {n}" for kind, n in sorted(tally.errors.items())) or "none"
        p50, p95 = percentile(tally.latencies_ms, 0.5), percentile(tally.latencies_ms, 0.95)
        self.stdout.write(
            self.style.SUCCESS(
                f"summary: {tally.done} calls answered of {tally.sent} sent in {elapsed_s:.1f}s\n"
                f"  routes: {routes}\n"
                f"  errors: {errors}\n"
                f"  latency: p50 {p50:.0f} ms, p95 {p95:.0f} ms"
            )
        )
        for kind, message in sorted(tally.first_errors.items()):
            self.stdout.write(f"  first {kind}: {message}")


def _most_common_model(requests: list[dict[str, Any]]) -> str:
    models = Counter(r["model"] for r in requests if isinstance(r.get("model"), str) and r["model"])
    return models.most_common(1)[0][0] if models else "gpt-4o"
