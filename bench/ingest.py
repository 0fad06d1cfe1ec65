"""Ingestion benchmark: POST /api/v1/calls on a real gunicorn server against a raw Postgres COPY.

    .venv/bin/python bench/ingest.py                  # 100,000 calls, the defaults below
    .venv/bin/python bench/ingest.py --calls 10000    # a quick run

One run measures
  (a) the product path: N sample-shaped calls (demo/agent_logs_sample.jsonl, each with a unique
      "id", "task"/"source" dropped) sent as {"calls": [...]} bodies of --batch calls by --clients
      keep-alive HTTP clients to gunicorn serving controlplane.wsgi on a free 127.0.0.1 port, then
      checks that exactly N rows were stored;
  (b) the baseline: the same N rows (the column values the product stores, built with its own
      validate_record) COPYed straight into calls_call with psycopg, --batch rows per COPY and
      transaction, over 4 and 1 connections; the faster is the baseline;
  (c) cold: --cold-calls sample-shaped calls in which every text is new (each string of each call
      carries a word of its own, so no text was analysed before), once with the default policy (NER
      on) and once with the pattern-only policy (no NER model), each in a project of its own.
The default run (a) sends the sample's texts again and again, as agents do (the same system prompts,
tool schemas and frequent questions), so after the warm-up most texts are found in each worker's
content-hash cache; the cold runs (c) show the cost of analysing every text.
It prints the rates, the ratio and PASS/FAIL against the targets; the exit status is 0 unless
a row count is wrong, or --strict is given and a target is missed.

The default server is `gunicorn -k sync -w 2 --preload`: on a 2-core machine the request is CPU-bound
in Python and Postgres alike, one sync worker per core keeps both cores busy, and more workers or
gthread configurations measured no faster (bench/README.md has the comparison).

DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/downshift_bench) is created when
missing and migrated; REDIS_URL defaults to redis://127.0.0.1:6379/14 (not used by ingestion).
The run works in projects of its own and deletes their rows at the end.
"""

import argparse
import http.client
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/downshift_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SAMPLE = ROOT / "demo" / "agent_logs_sample.jsonl"
DROPPED_FIELDS = ("task", "source")
TARGET_RATIO = 0.5
TARGET_RATE = 5_000
COLD_TARGET_RATE = 1_000  # cold, NER on

os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import orjson  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=100_000, help="calls to send and to COPY (default 100000)")
    p.add_argument("--batch", type=int, default=1_000, help="calls per request and rows per COPY (default 1000)")
    p.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class: sync or gthread (default sync)")
    p.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread; default 1)")
    p.add_argument(
        "--gunicorn-args",
        default="",
        help='extra gunicorn command-line arguments, e.g. "--config gc_tuning.py" (default none)',
    )
    p.add_argument(
        "--copy-conns",
        default="4,1",
        help="comma-separated connection counts to try for the COPY baseline; the fastest counts (default 4,1)",
    )
    p.add_argument("--skip-copy", action="store_true", help="measure the product path only (for tuning the server)")
    p.add_argument(
        "--cold-calls", type=int, default=6_000, help="calls of the cold runs, NER on and off (default 6000; 0 skips)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=24,
        help="warm-up requests before timing (not counted; default 24: the bodies go to whichever worker is free,\n"
        "and 24 bodies of 1,000 calls give each of 2 workers the sample's 3,000 texts, as agents' repeated\n"
        "prompts and schemas fill each worker's cache in production)",
    )
    p.add_argument("--progress-every", type=int, default=10_000, help="print progress every N calls (default 10000)")
    p.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    args = p.parse_args()
    if args.cold_calls < 0:
        p.error("--cold-calls must be 0 or more")
    if args.calls < 1 or args.batch < 1 or args.clients < 1 or args.workers < 1 or args.threads < 1:
        p.error("--calls, --batch, --clients, --workers and --threads must be positive")
    try:
        args.copy_conns = [int(n) for n in args.copy_conns.split(",") if n.strip()]
    except ValueError:
        p.error("--copy-conns is a comma-separated list of integers, e.g. 4,1")
    if not args.copy_conns or min(args.copy_conns) < 1:
        p.error("--copy-conns needs at least one positive count")
    return args


# --- database setup -------------------------------------------------------------------------------


def admin_conninfo(url: str) -> str:
    return make_conninfo(url, dbname="postgres")


def ensure_database(url: str) -> None:
    name = conninfo_to_dict(url).get("dbname")
    with psycopg.connect(admin_conninfo(url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
            print(f"created database {name}")


def migrate() -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)


def settle(url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT so every timed phase starts from the same table state."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE calls_call")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.Error:
            pass  # needs superuser or pg_checkpoint; only noise reduction


def count_rows(url: str, project_id: UUID) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM calls_call WHERE project_id = %s", [project_id]).fetchone()
    return int(row[0]) if row else 0


def delete_rows(url: str, project_ids: list[UUID]) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM calls_call WHERE project_id = ANY(%s)", [project_ids])


# --- CPU accounting from /proc (Linux): where the two cores went during a phase --------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu() -> dict[int, tuple[str, float, int]]:
    """pid -> (comm, cpu seconds, ppid) for every process we can read."""
    out: dict[int, tuple[str, float, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        out[int(entry)] = (comm, (int(rest[11]) + int(rest[12])) / _TICK, int(rest[1]))
    return out


@dataclass
class CpuSample:
    procs: dict[int, tuple[str, float, int]]
    client: float
    machine: list[float]  # /proc/stat cpu line, seconds: user nice system idle iowait irq softirq steal


def _machine_cpu() -> list[float]:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:9]
    return [int(v) / _TICK for v in fields]


def cpu_sample() -> CpuSample:
    if not os.path.isdir("/proc"):
        return CpuSample({}, 0.0, [])
    t = os.times()
    return CpuSample(_proc_cpu(), t.user + t.system, _machine_cpu())


def postmaster_pid(url: str) -> int | None:
    """The Postgres server's main process, when it runs on this machine (its backends are its children)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        with open(f"/proc/{row[0] if row else 0}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class CpuUse:
    """CPU seconds over a timed phase: gunicorn (master + workers), Postgres (all its processes), this
    script, and the rest of the machine (kernel networking, other tenants)."""

    wall: float
    server: float | None
    postgres: float | None
    client: float
    other: float
    busy: float
    idle: float
    steal: float

    @property
    def work(self) -> float:
        """CPU the measured system spent: server + Postgres + bench client."""
        return (self.server or 0.0) + (self.postgres or 0.0) + self.client

    def line(self) -> str:
        parts = [f"gunicorn {self.server:.1f}s"] if self.server is not None else []
        parts += [f"postgres {self.postgres:.1f}s" if self.postgres is not None else "postgres (not on this machine)"]
        parts += [f"bench client {self.client:.1f}s", f"kernel/other {self.other:.1f}s"]
        if self.steal > 0.05 * self.wall:
            parts.append(f"steal {self.steal:.1f}s")
        return (
            f"CPU over {self.wall:.1f}s wall ({os.cpu_count()} cores): "
            + ", ".join(parts)
            + f"; machine {self.busy / self.wall:.2f} cores busy, {self.idle / self.wall:.2f} idle"
        )

    def noisy(self) -> bool:
        """Other work took more than a tenth of the machine: the rates understate this code."""
        return self.other + self.steal > 0.1 * self.wall * (os.cpu_count() or 1)


def cpu_use(
    before: CpuSample, after: CpuSample, server_pid: int | None, postgres_pid: int | None, wall: float
) -> CpuUse | None:
    if not after.procs:
        return None

    def tree(root: int | None) -> set[int]:
        return {root} | {pid for pid, (_, _, ppid) in after.procs.items() if ppid == root} if root else set()

    server_pids, postgres_pids = tree(server_pid), tree(postgres_pid)
    server = postgres = 0.0
    for pid, (comm, cpu, _) in after.procs.items():
        delta = cpu - before.procs.get(pid, (comm, 0.0, 0))[1]
        if pid in server_pids:
            server += delta
        elif pid in postgres_pids:
            postgres += delta
    client = after.client - before.client
    d = [a - b for a, b in zip(after.machine, before.machine, strict=True)]
    busy = d[0] + d[1] + d[2] + d[5] + d[6]
    return CpuUse(
        wall=wall,
        server=server if server_pid else None,
        postgres=postgres if postgres_pid else None,
        client=client,
        other=max(busy - server - postgres - client, 0.0),
        busy=busy,
        idle=d[3] + d[4],
        steal=d[7],
    )


def print_cpu(use: CpuUse | None) -> None:
    if use is None:
        return
    print(f"  {use.line()}")
    if use.noisy():
        print("  NOTE: other processes were busy on this machine during this phase; the rate understates the code")


# --- the workload ---------------------------------------------------------------------------------


def load_sample() -> list[dict[str, Any]]:
    with open(SAMPLE, "rb") as f:
        records = [orjson.loads(line) for line in f if line.strip()]
    return [{k: v for k, v in r.items() if k not in DROPPED_FIELDS} for r in records]


def make_calls(sample: list[dict[str, Any]], n: int, tag: str) -> list[dict[str, Any]]:
    """n calls cycling through the sample, each with a unique id (sample id + tag + counter)."""
    return [{**sample[i % len(sample)], "id": f"{sample[i % len(sample)]['id']}-{tag}{i}"} for i in range(n)]


def _letters(i: int) -> str:
    """A lower-case word for a number ("zqb", "zqc", ...): no digits (so strings without digits stay
    without), no capital (so the NER model reads no more than before)."""
    word = ""
    while True:
        i, r = divmod(i, 26)
        word = "abcdefghijklmnopqrstuvwxyz"[r] + word
        if i == 0:
            return "zq" + word


TEXT_KEYS = frozenset({"content", "text", "arguments"})  # where a call's texts are (not roles, names, ids)


def _fresh(value: Any, word: str, *, text: bool = False) -> Any:
    """A call's texts (message contents and parts, tool-call arguments, metadata values) with `word`
    added, so that each is a text never analysed before. A text that holds JSON (tool arguments and
    results) stays JSON, with the word added to its strings."""
    if isinstance(value, str):
        if not text or not value.strip():
            return value
        if value[:1] in "{[":
            try:
                return orjson.dumps(_fresh(orjson.loads(value), word, text=True)).decode()
            except orjson.JSONDecodeError:
                pass
        return f"{value} {word}"
    if isinstance(value, dict):
        return {k: _fresh(v, word, text=text or k in TEXT_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v, word, text=text) for v in value]
    return value


def make_cold_calls(sample: list[dict[str, Any]], n: int, tag: str) -> list[dict[str, Any]]:
    """n sample-shaped calls in which every text of the request, response and metadata is new."""
    calls = make_calls(sample, n, tag)
    return [
        {
            **call,
            "request": _fresh(call["request"], _letters(i) + tag),
            **({"response": _fresh(call["response"], _letters(i) + tag)} if call.get("response") else {}),
            **({"metadata": _fresh(call["metadata"], _letters(i) + tag, text=True)} if call.get("metadata") else {}),
        }
        for i, call in enumerate(calls)
    ]


def make_bodies(calls: list[dict[str, Any]], batch: int) -> list[tuple[int, bytes]]:
    return [
        (len(calls[i : i + batch]), orjson.dumps({"calls": calls[i : i + batch]})) for i in range(0, len(calls), batch)
    ]


def build_copy_rows(calls: list[dict[str, Any]], project_id: UUID) -> list[tuple[Any, ...]]:
    """The exact column values apps.calls.services._insert_rows writes for these calls."""
    from django.utils import timezone

    from apps.calls.ingest import validate_record
    from apps.calls.services import PriceBook, copy_values

    prices = PriceBook()
    now = timezone.now()
    ignored: set[str] = set()
    return [
        copy_values(validate_record(raw, now=now, ignored=ignored), project_id=project_id, now=now, prices=prices)
        for raw in calls
    ]


# --- progress -------------------------------------------------------------------------------------


@dataclass
class Progress:
    total: int
    every: int
    label: str
    done: int = 0
    started: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            before, self.done = self.done, self.done + n
            if self.every and (self.done // self.every > before // self.every or self.done == self.total):
                elapsed = time.perf_counter() - self.started
                rate = self.done / elapsed if elapsed else 0.0
                print(
                    f"  {self.label}: {self.done:>9,} / {self.total:,} calls  {elapsed:6.1f}s  {rate:>8,.0f} calls/s",
                    flush=True,
                )


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- (a) the product path -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "controlplane.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--timeout",
        "120",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        "--preload",
        *shlex.split(args.gunicorn_args),
    ]
    env = {
        **os.environ,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore:No directory at",  # whitenoise: no collectstatic here, and none needed
    }
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 60s")


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class HttpResult:
    seconds: float
    accepted: int
    duplicates: int
    latencies: list[float]
    errors: list[str]


def post_all(
    port: int, secret: str, bodies: list[tuple[int, bytes]], clients: int, progress: Progress | None
) -> HttpResult:
    """Send the pre-serialised bodies from `clients` threads, each on its own keep-alive connection."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    lock = threading.Lock()
    next_index = [0]
    totals = {"accepted": 0, "duplicates": 0}
    latencies: list[float] = []
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        start_gate.wait()
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(bodies) or errors:
                break
            n, body = bodies[i]
            t0 = time.perf_counter()
            try:
                for attempt in (1, 2):  # the server closed a keep-alive connection: reconnect once (retries are safe)
                    try:
                        conn.request("POST", "/api/v1/calls", body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        break
                    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                        conn.close()
                        if attempt == 2:
                            raise
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                break
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                with lock:
                    errors.append(f"HTTP {resp.status}: {data[:500]!r}")
                break
            answer = orjson.loads(data)
            with lock:
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]
                latencies.append(elapsed)
            if progress is not None:
                progress.add(n)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    if progress is not None:
        progress.started = t0
    for t in threads:
        t.join()
    return HttpResult(time.perf_counter() - t0, totals["accepted"], totals["duplicates"], latencies, errors)


# --- (b) the COPY baseline ------------------------------------------------------------------------


def copy_all(
    url: str, rows: list[tuple[Any, ...]], batch: int, conns: int, progress: Progress
) -> tuple[float, CpuSample]:
    """COPY the pre-built rows into calls_call, one COPY and commit per batch, over `conns` connections.
    Returns the seconds taken and a CPU sample taken before the connections (and their backends) close."""
    from apps.calls.services import _COLUMNS

    statement = f"COPY calls_call ({_COLUMNS}) FROM STDIN"
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    lock = threading.Lock()
    next_index = [0]
    failures: list[BaseException] = []
    connections = [psycopg.connect(url) for _ in range(conns)]
    start_gate = threading.Barrier(conns + 1)

    def worker(conn: psycopg.Connection[Any]) -> None:
        start_gate.wait()
        try:
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= len(batches) or failures:
                    break
                with conn.cursor() as cur, cur.copy(statement) as copy:
                    for row in batches[i]:
                        copy.write_row(row)
                conn.commit()
                progress.add(len(batches[i]))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in connections]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = progress.started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    after = cpu_sample()
    for c in connections:
        c.close()
    if failures:
        raise failures[0]
    return seconds, after


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    url = os.environ["DATABASE_URL"]
    info = conninfo_to_dict(url)
    print(f"database {info.get('dbname')} on {info.get('host', 'localhost')}:{info.get('port', 5432)}")
    ensure_database(url)
    migrate()

    import django

    django.setup()
    from apps.projects.models import Project
    from apps.projects.services import project_create

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + f"-{os.getpid()}"
    roles = ("http", "warm", "copy", "cold-ner", "cold-patterns")
    projects = {role: project_create(slug=f"bench-{role}-{stamp}") for role in roles}
    try:
        return run(args, url, projects)
    finally:
        ids = [p.id for p in projects.values()]
        delete_rows(url, ids)
        Project.objects.filter(id__in=ids).delete()


def server_config(args: argparse.Namespace) -> str:
    threads = f" --threads {args.threads}" if args.worker_class == "gthread" or args.threads > 1 else ""
    extra = f" {args.gunicorn_args}" if args.gunicorn_args else ""
    return f"gunicorn -k {args.worker_class} -w {args.workers}{threads}{extra}"


Posting = tuple[Any, str, list[tuple[int, bytes]]]  # (project, API key, bodies)


def product_run(
    args: argparse.Namespace,
    url: str,
    pg_pid: int | None,
    timed: Posting,
    warm_up: Posting,
    retries: dict[str, float] | None = None,
) -> tuple[float, CpuUse | None, bool]:
    """Start gunicorn, send the warm-up bodies (not timed, their rows deleted), then the timed ones;
    (calls/s, CPU use, whether exactly the sent calls were stored). With `retries`, the timed bodies are
    sent once more, as a client retrying them all would: every call is a duplicate, found by one lookup
    and never scanned again; its calls/s go in retries["rate"]."""
    (project, secret, bodies), (warm, warm_secret, warm_bodies) = timed, warm_up
    calls = sum(n for n, _ in bodies)
    port = free_port()
    server = start_server(args, port)
    try:
        if warm_bodies:
            warmed = post_all(port, warm_secret, warm_bodies, args.clients, None)
            if warmed.errors:
                raise SystemExit(f"warm-up failed: {warmed.errors[0]}")
        delete_rows(url, [warm.id])
        settle(url)
        before = cpu_sample()
        progress = Progress(calls, args.progress_every, "sent")
        result = post_all(port, secret, bodies, args.clients, progress)
        use = cpu_use(before, cpu_sample(), server.pid, pg_pid, result.seconds)
        if retries is not None:
            again = post_all(port, secret, bodies, args.clients, None)
            retries["rate"] = calls / again.seconds if again.duplicates == calls and not again.errors else 0.0
            print(
                f"  the same {calls:,} calls again (a retry): {again.seconds:.2f}s = {retries['rate']:,.0f} calls/s, "
                f"{calls / again.seconds / (calls / result.seconds):.1f}x the first pass; "
                f"duplicates {again.duplicates:,}, accepted {again.accepted:,}"
            )
    finally:
        stop_server(server)
    if result.errors:
        print(f"  request failed: {result.errors[0]}")
    stored = count_rows(url, project.id)
    rate = calls / result.seconds
    print(
        f"  {calls:,} calls in {result.seconds:.2f}s = {rate:,.0f} calls/s; "
        f"request latency p50 {pct(result.latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {pct(result.latencies, 0.95) * 1000:.0f} ms"
    )
    print_cpu(use)
    print(
        f"  stored rows for the bench project: {stored:,} (expected {calls:,}; "
        f"API said accepted {result.accepted:,}, duplicates {result.duplicates:,})"
    )
    if stored != calls:
        print("  FAIL: the stored row count is wrong")
    delete_rows(url, [project.id])
    return rate, use, stored == calls


def cold_runs(
    args: argparse.Namespace, url: str, pg_pid: int | None, projects: dict[str, Any], sample: list[dict[str, Any]]
) -> dict[str, float]:
    """The cold runs, NER on then off: {"NER on": calls/s, "pattern-only": calls/s}, 0 where rows went
    missing. The warm-up sends other new texts, so the workers have loaded their scanner and model."""
    from django.db.models import F

    from apps.curation.models import CurationPolicy
    from apps.curation.selectors import curation_policy_get
    from apps.projects.services import api_key_create

    rates: dict[str, float] = {}
    for label, role, tag in (("NER on", "cold-ner", "n"), ("pattern-only", "cold-patterns", "p")):
        project, warm = projects[role], projects["warm"]
        policy = curation_policy_get(project=project)
        if role == "cold-patterns":
            CurationPolicy.objects.filter(pk=policy.pk).update(ner_model_path="", version=F("version") + 1)
            policy.refresh_from_db()
        _, secret = api_key_create(project=project, name="bench cold", scopes=["ingest"])
        _, warm_secret = api_key_create(project=warm, name=f"bench cold warm-up {tag}", scopes=["ingest"])
        warm_bodies = make_bodies(make_cold_calls(sample, 2 * args.batch, "w" + tag), args.batch)
        bodies = make_bodies(make_cold_calls(sample, args.cold_calls, "c" + tag), args.batch)
        engine = f"NER model {policy.ner_model_path}" if policy.ner_model_path else "no NER model"
        print(f"\n(c) cold, {label} ({engine}): {args.cold_calls:,} calls, every text new")
        retries: dict[str, float] | None = {} if role == "cold-ner" else None
        timed, warm_up = (project, secret, bodies), (warm, warm_secret, warm_bodies)
        rate, _, stored_ok = product_run(args, url, pg_pid, timed, warm_up, retries)
        rates[label] = rate if stored_ok else 0.0
        if retries is not None:
            rates["NER on, retried"] = retries.get("rate", 0.0)
    return rates


def run(args: argparse.Namespace, url: str, projects: dict[str, Any]) -> int:
    from apps.projects.services import api_key_create

    product, warm, baseline = projects["http"], projects["warm"], projects["copy"]
    _, secret = api_key_create(project=product, name="bench", scopes=["ingest"])
    _, warm_secret = api_key_create(project=warm, name="bench warm-up", scopes=["ingest"])

    t0 = time.perf_counter()
    sample = load_sample()
    calls = make_calls(sample, args.calls, "b")
    bodies = make_bodies(calls, args.batch)
    warm_bodies = make_bodies(make_calls(sample, args.warmup * args.batch, "w"), args.batch)
    rows = [] if args.skip_copy else build_copy_rows(calls, baseline.id)
    mb = sum(len(b) for _, b in bodies) / 1e6
    print(
        f"prepared {args.calls:,} calls in {len(bodies)} bodies of {args.batch:,} ({mb:,.0f} MB JSON) "
        f"and {len(rows):,} COPY rows in {time.perf_counter() - t0:.1f}s"
    )
    pg_pid = postmaster_pid(url)
    exit_code = 0

    # (a) the product path
    print(f"\n(a) POST /api/v1/calls, the default run: {server_config(args)}, {args.clients} clients")
    product_rate, cpu_a, stored_ok = product_run(
        args, url, pg_pid, (product, secret, bodies), (warm, warm_secret, warm_bodies)
    )
    exit_code |= 0 if stored_ok else 1

    # (c) cold: every text new, NER on (the default policy) and off (the pattern-only policy)
    cold: dict[str, float] = {}
    if args.cold_calls:
        cold = cold_runs(args, url, pg_pid, projects, sample)
        exit_code |= 0 if all(rate > 0 for rate in cold.values()) else 1

    # (b) the COPY baseline, into the same table emptied of the product's rows
    delete_rows(url, [product.id])
    copy_runs: dict[int, tuple[float, CpuUse | None]] = {}
    for conns in [] if args.skip_copy else args.copy_conns:
        print(f"\n(b) COPY calls_call: {conns} connection{'s' if conns > 1 else ''}, {args.batch:,} rows per COPY")
        settle(url)
        before = cpu_sample()
        progress = Progress(args.calls, args.progress_every, "copied")
        seconds, after = copy_all(url, rows, args.batch, conns, progress)
        cpu_b = cpu_use(before, after, None, pg_pid, seconds)
        copied = count_rows(url, baseline.id)
        copy_runs[conns] = (args.calls / seconds, cpu_b)
        print(f"  {args.calls:,} rows in {seconds:.2f}s = {args.calls / seconds:,.0f} rows/s")
        print_cpu(cpu_b)
        if copied != args.calls:
            print(f"  FAIL: {copied:,} rows copied, expected {args.calls:,}")
            exit_code = 1
        delete_rows(url, [baseline.id])

    rate_ok = product_rate >= TARGET_RATE
    ratio_ok = True
    print("\nResult")
    config = server_config(args)
    print(f"  product  POST /api/v1/calls  {product_rate:>10,.0f} calls/s   ({config}, {args.clients} clients)")
    for label, rate in cold.items():
        what = "the same calls sent again: all duplicates" if "retried" in label else "every text new"
        print(f"  cold, {label:<22} {rate:>10,.0f} calls/s   ({what})")
    if copy_runs:
        best_conns = max(copy_runs, key=lambda c: copy_runs[c][0])
        copy_rate, copy_cpu = copy_runs[best_conns]
        ratio = product_rate / copy_rate
        ratio_ok = ratio >= TARGET_RATIO
        print(f"  baseline COPY                {copy_rate:>10,.0f} calls/s   ({best_conns} connection(s), the fastest)")
        print(f"  ratio product / COPY         {ratio:>10.2f}")
        if cpu_a is not None and copy_cpu is not None and cpu_a.work and copy_cpu.work:
            product_us, copy_us = cpu_a.work / args.calls * 1e6, copy_cpu.work / args.calls * 1e6
            print(
                f"  CPU per call (server + postgres + client): product {product_us:.0f} us, COPY {copy_us:.0f} us "
                f"(COPY / product {copy_us / product_us:.2f}; counts only these processes)"
            )
        print(f"  target ratio >= {TARGET_RATIO}:               {'PASS' if ratio_ok else 'FAIL'} ({ratio:.2f})")
    print(f"  target product >= {TARGET_RATE:,} calls/s:  {'PASS' if rate_ok else 'FAIL'} ({product_rate:,.0f})")
    cold_ok = True
    if "NER on" in cold:
        cold_ok = cold["NER on"] >= COLD_TARGET_RATE
        verdict = "PASS" if cold_ok else "FAIL"
        print(f"  target cold, NER on >= {COLD_TARGET_RATE:,} calls/s: {verdict} ({cold['NER on']:,.0f})")
    if args.strict and exit_code == 0 and not (ratio_ok and rate_ok and cold_ok):
        exit_code = 2
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
