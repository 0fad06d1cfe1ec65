"""The gateway's added latency, CPU and memory: one 0 ms fake upstream LLM, asked directly, through
Downshift's gateway, and through LiteLLM's proxy, in one run.

    .venv/bin/python bench/gateway.py                  # about 7 minutes; installs LiteLLM once (about 1 min)
    .venv/bin/python bench/gateway.py --seconds 10     # a quick look
    .venv/bin/python bench/gateway.py --skip-litellm   # Downshift against direct only

Each target runs as one worker process: the gateway is `uvicorn controlplane.asgi:application` (what
docker-compose runs, with one worker instead of two); LiteLLM is `litellm --num_workers 1`, installed by this
script into var/bench/litellm-<version> (its own virtualenv: it pins its own FastAPI, httpx and pydantic),
started offline with LITELLM_LOCAL_MODEL_COST_MAP=True. The fake upstream (bench/gateway_load.py) answers at
once; the load generator runs here, open loop: request i is sent at start + i / rate whatever happened to the
ones before, and its latency counts from then.

The request is an agent's: a system prompt with the day's date and a customer number in it, a user turn of
about 500 tokens that differs on every call, and three tools. For Downshift it goes the whole way: the API
key's scope, the task found from the call site (the bench project has a task of that call site, stored as
discovery would), the route (no deployment: the LLM), and the call logged to the Redis stream. Every call
must reach the stream: the bench counts them, then clears the stream (no drain runs here).

Phases, per target, after a 5 s warm-up: --seconds at 50 requests/s, --seconds streamed at 20 requests/s
(first chunk and whole answer timed), and --seconds at 200 requests/s. The gateway's resident memory (its
process tree) is read before the 50/s phase and after the streamed one (60 s of calls by default). CPU per
request is the target's process tree's user + system time over a phase, divided by the requests it answered.

Targets (issue 13), on one gateway process: added p50 at most 1/3 of LiteLLM's and added p99 at most 1/4 of
LiteLLM's at 50 requests/s; the first streamed chunk's added p50 at most 1/4 of LiteLLM's; 200 requests/s
with 0 errors; memory flat (at most 10% or 16 MB more after those 60 s). It exits 0; with --strict, 2
when a target is missed.

DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/downshift_bench) is created and migrated when
needed; REDIS_URL defaults to redis://127.0.0.1:6379/14. The run works in a project of its own, deleted at
the end.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LITELLM_VERSION = "1.108.7"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/downshift_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
PROJECT_SLUG = "bench-gateway"
WARMUP_S = 5.0
# (label, requests/s, streamed). Streams at 20/s: LiteLLM spends about 30 ms of CPU on a streamed answer, so
# at 50/s it falls behind on this machine and its first chunk would time its queue, not its relay.
STREAM = "20/s stream"
PHASES = (("50/s", 50, False), (STREAM, 20, True), ("200/s", 200, False))
LITELLM_KEY = "sk-bench-litellm-master"

os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

from gateway_load import MODEL, Result, open_loop, percentile, serve_upstream  # noqa: E402

from bench.ingest import ensure_database, migrate  # noqa: E402

# --- the agent's request ---------------------------------------------------------------------------------

SYSTEM = (
    "You are Harbor, the support agent of Northwind Outfitters. Today is 2026-11-{day:02d}. You are helping "
    "customer #{customer}. Answer in the customer's language, briefly and politely. Use the tools to look up "
    "orders and shipments before you say anything about them, never guess an order's state, and never promise "
    "a refund: open a ticket for a person instead. Quote order numbers exactly as the tools give them. If the "
    "customer asks for something outside orders, shipping and returns, say what you can help with."
)
SENTENCES = (
    "I ordered the alpine shell jacket in size medium about two weeks ago and it still has not arrived.",
    "The tracking page has said 'label created' for six days now and nothing has moved since then.",
    "My partner also ordered boots from you last month and those came within four days, so I am surprised.",
    "We are leaving for a hiking trip on Saturday morning and I need the jacket before then if at all possible.",
    "If it cannot arrive in time I would like to know whether I can cancel and buy one in the shop instead.",
    "I paid with the card ending in the usual digits and the payment has already left my account.",
    "The confirmation email mentioned express shipping, but the order page now says standard delivery.",
    "Could you also check whether the trail socks I added later were put into the same parcel or not?",
    "I have been a customer for years and this is the first time something like this has happened to me.",
    "Please tell me what the carrier says and whether there is anything I should do on my side now.",
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Look up an order by its number: items, payment, shipping method and state.",
            "parameters": {
                "type": "object",
                "properties": {"order_number": {"type": "string", "description": "e.g. NW-2026-118842"}},
                "required": ["order_number"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "track_shipment",
            "description": "The carrier's latest events for a shipment.",
            "parameters": {
                "type": "object",
                "properties": {
                    "tracking_id": {"type": "string"},
                    "carrier": {"type": "string", "enum": ["dhl", "ups", "postnl", "dpd"]},
                },
                "required": ["tracking_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "open_ticket",
            "description": "Hand the case to a person, with a summary and a priority.",
            "parameters": {
                "type": "object",
                "properties": {
                    "summary": {"type": "string"},
                    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
                },
                "required": ["summary", "priority"],
            },
        },
    },
]


def agent_request(i: int, *, stream: bool = False) -> dict[str, Any]:
    """About 800 tokens: the system prompt, a ~500-token user turn that differs on every call, 3 tools."""
    turn = " ".join(SENTENCES[(i + k * 3) % len(SENTENCES)] for k in range(20))
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM.format(day=1 + i % 28, customer=100_000 + i * 7919 % 900_000)},
            {"role": "user", "content": f"Order NW-2026-{118_000 + i}. {turn}"},
        ],
        "tools": TOOLS,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return body


# --- processes ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds until GET url answers (any HTTP status)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s")


def tree(pid: int) -> list[int]:
    """pid and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_s(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def spawn(command: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "wb") if log else subprocess.DEVNULL
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


# --- Downshift's side: a project with a key, an upstream endpoint and a task of the agent's call site ------


def seed(upstream_url: str) -> str:
    """The bench project, fresh; returns a key with the gateway scope."""
    import django

    django.setup()
    from apps.calls.ingest import Batch
    from apps.calls.models import Call
    from apps.calls.services import calls_ingest
    from apps.discovery.callsite import call_site
    from apps.discovery.models import TaskCluster
    from apps.evaluation.services import endpoint_create
    from apps.projects.models import Project
    from apps.projects.services import api_key_create, project_create

    Project.objects.filter(slug=PROJECT_SLUG).delete()
    project = project_create(slug=PROJECT_SLUG, name="bench/gateway")
    endpoint_create(
        project=project, name="fake upstream", base_url=upstream_url, model=MODEL, api_key="sk-up", upstream=True
    )
    records = [
        {
            "id": f"bench-gw-{i}",
            "agent": "harbor",
            "timestamp": "2026-11-30T10:00:00Z",
            "request": agent_request(10_000 + i),
            "response": {"role": "assistant", "content": "Let me look that order up."},
        }
        for i in range(30)
    ]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    task = TaskCluster.objects.create(project=project, number=1, name="Order questions", output_kind="text")
    for call in Call.objects.filter(project=project):
        Call.objects.filter(id=call.id).update(task_cluster=task, call_site=call_site(call.request))
    _, secret = api_key_create(project=project, name="bench agent", scopes=["gateway"])
    return secret


def unseed() -> None:
    from apps.projects.models import Project

    Project.objects.filter(slug=PROJECT_SLUG).delete()


def log_stream_length(clear: bool = False) -> int:
    import redis

    from apps.serving.gateway import log

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    length = int(client.xlen(log.STREAM))
    if clear:
        client.delete(log.STREAM)
    return length


# --- LiteLLM -------------------------------------------------------------------------------------------------


def litellm_venv() -> Path:
    venv = ROOT / "var" / "bench" / f"litellm-{LITELLM_VERSION}"
    if not (venv / "bin" / "litellm").exists():
        print(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv.relative_to(ROOT)} (once) ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    return venv


def litellm_config(upstream_url: str, folder: Path) -> Path:
    config = folder / "litellm.yaml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "model_list": [
                    {
                        "model_name": MODEL,
                        "litellm_params": {"model": f"openai/{MODEL}", "api_base": upstream_url, "api_key": "sk-up"},
                    }
                ],
                "litellm_settings": {"telemetry": False},
            }
        )
    )
    return config


# --- a target's run ------------------------------------------------------------------------------------------


class Target:
    def __init__(self, name: str, port: int, path: str, token: str, pid: int | None) -> None:
        self.name, self.port, self.path, self.token, self.pid = name, port, path, token, pid
        self.phases: dict[str, tuple[Result, float | None]] = {}
        self.memory: tuple[float, float] | None = None


async def phase(target: Target, rate: float, seconds: float, *, stream: bool = False) -> tuple[Result, float | None]:
    before = cpu_s(target.pid) if target.pid else None
    result = await open_loop(
        host="127.0.0.1",
        port=target.port,
        path=target.path,
        token=target.token,
        bodies=lambda i: json.dumps(agent_request(i, stream=stream)).encode(),
        rate=rate,
        seconds=seconds,
        stream=stream,
    )
    per_request = None
    if target.pid and before is not None and result.answered:
        per_request = (cpu_s(target.pid) - before) * 1000 / result.answered
    return result, per_request


async def run_target(target: Target, seconds: float) -> None:
    print(f"  {target.name}: warm-up {WARMUP_S:g} s", flush=True)
    await phase(target, 50, WARMUP_S)
    start_mb = rss_mb(target.pid) if target.pid else None
    for label, rate, stream in PHASES:
        result, cpu = await phase(target, rate, seconds, stream=stream)
        target.phases[label] = (result, cpu)
        print(
            f"  {target.name} {label}: {result.answered}/{result.sent} answered, p50 "
            f"{percentile(result.latencies_ms, 0.5):.1f} ms, p99 {percentile(result.latencies_ms, 0.99):.1f} ms"
            + (f", errors {result.errors}" if result.errors else ""),
            flush=True,
        )
        if label == STREAM and target.pid and start_mb is not None:
            target.memory = (start_mb, rss_mb(target.pid))


# --- the report ------------------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def report(targets: list[Target], seconds: float) -> list[str]:
    direct = targets[0]

    def added(target: Target, label: str, q: float, first: bool = False) -> float:
        def values(result: Result) -> list[float]:
            return result.first_chunk_ms if first else result.latencies_ms

        mine = percentile(values(target.phases[label][0]), q)
        base = percentile(values(direct.phases[label][0]), q)
        return mine - base

    print(f"\n{seconds:g} s per phase, one worker process per target, a 0 ms fake upstream\n")
    print(
        "| target | phase | answered | errors | p50 ms | p99 ms | added p50 | added p99 | first chunk p50 "
        "| added first chunk p50 | CPU ms/request |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for target in targets:
        for label, (result, cpu) in target.phases.items():
            stream = "stream" in label
            is_direct = target is direct
            print(
                f"| {target.name} | {label} | {result.answered}/{result.sent} | {result.error_count} "
                f"| {fmt(percentile(result.latencies_ms, 0.5))} | {fmt(percentile(result.latencies_ms, 0.99))} "
                f"| {'-' if is_direct else fmt(added(target, label, 0.5))} "
                f"| {'-' if is_direct else fmt(added(target, label, 0.99))} "
                f"| {fmt(percentile(result.first_chunk_ms, 0.5)) if stream else '-'} "
                f"| {fmt(added(target, label, 0.5, True)) if stream and not is_direct else '-'} "
                f"| {fmt(cpu)} |"
            )
    for target in targets[1:]:
        if target.memory:
            print(
                f"\n{target.name} resident memory: {target.memory[0]:.0f} MB before the 50/s phase, "
                f"{target.memory[1]:.0f} MB after the streamed one ({2 * seconds:g} s of calls later)"
            )

    missed: list[str] = []
    ours = next((t for t in targets if t.name == "downshift"), None)
    litellm = next((t for t in targets if t.name == "litellm"), None)
    print("\nTargets")

    def check(ok: bool, text: str) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        if not ok:
            missed.append(text)

    if ours is not None:
        if litellm is not None:
            for label, q, share in (("50/s", 0.5, 1 / 3), ("50/s", 0.99, 1 / 4)):
                mine, theirs = added(ours, label, q), added(litellm, label, q)
                check(
                    mine <= share * theirs,
                    f"added p{round(q * 100)} at 50/s {mine:.2f} ms <= {share:.2f} x LiteLLM's {theirs:.2f} ms",
                )
            mine, theirs = added(ours, STREAM, 0.5, True), added(litellm, STREAM, 0.5, True)
            check(mine <= theirs / 4, f"first chunk added p50 {mine:.2f} ms <= 0.25 x LiteLLM's {theirs:.2f} ms")
        result = ours.phases["200/s"][0]
        check(
            result.error_count == 0 and result.answered == result.sent,
            f"200/s: {result.answered}/{result.sent} answered, {result.error_count} errors",
        )
        if ours.memory:
            start, end = ours.memory
            check(end - start <= max(16.0, 0.1 * start), f"memory flat: {start:.0f} -> {end:.0f} MB")
    return missed


# --- main ------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per timed phase (default 30)")
    p.add_argument("--skip-litellm", action="store_true", help="measure direct and Downshift only")
    p.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    p.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.seconds <= 0:
        p.error("--seconds must be positive")
    return args


def main() -> int:
    args = parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    ensure_database(os.environ["DATABASE_URL"])
    migrate()
    venv = None if args.skip_litellm else litellm_venv()
    folder = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    upstream_port = free_port()
    upstream = spawn([sys.executable, __file__, "--serve-upstream", str(upstream_port)])
    processes = [upstream]
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/v1/models", 10, upstream)
        secret = seed(upstream_url)
        log_stream_length(clear=True)
        targets = [Target("direct", upstream_port, "/v1/chat/completions", "sk-up", None)]

        port = free_port()
        env = {**os.environ, "GATEWAY_UPSTREAM_TIMEOUT_S": "30"}
        gateway = spawn(
            [
                str(ROOT / ".venv" / "bin" / "uvicorn"),
                "controlplane.asgi:application",
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            log=folder / "gateway.log",
        )
        processes.append(gateway)
        print(f"gateway ready in {wait_http(f'http://127.0.0.1:{port}/healthz', 60, gateway):.1f} s", flush=True)
        targets.append(Target("downshift", port, "/v1/chat/completions", secret, gateway.pid))

        if venv is not None:
            port = free_port()
            env = {
                **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_MASTER_KEY": LITELLM_KEY,
                "LITELLM_LOG": "ERROR",
            }
            litellm = spawn(
                [
                    str(venv / "bin" / "litellm"),
                    "--config",
                    str(litellm_config(upstream_url, folder)),
                    "--port",
                    str(port),
                    "--num_workers",
                    "1",
                ],
                env=env,
                log=folder / "litellm.log",
            )
            processes.append(litellm)
            ready = wait_http(f"http://127.0.0.1:{port}/health/liveliness", 120, litellm)
            print(f"LiteLLM ready in {ready:.1f} s", flush=True)
            targets.append(Target("litellm", port, "/v1/chat/completions", LITELLM_KEY, litellm.pid))

        for target in targets:
            asyncio.run(run_target(target, args.seconds))
            if target.name == "downshift":
                time.sleep(1)  # the last records leave through a thread
                sent = sum(r.sent for r, _ in target.phases.values()) + int(50 * WARMUP_S)
                print(
                    f"  downshift logged {log_stream_length(clear=True)} of {sent} calls to the Redis stream",
                    flush=True,
                )
        missed = report(targets, args.seconds)
    finally:
        for process in reversed(processes):
            stop(process)
        unseed()
        shutil.rmtree(folder, ignore_errors=True)
    return 2 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
