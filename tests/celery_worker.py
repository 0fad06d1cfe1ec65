"""A real Celery worker process on the test database and the test Redis, for tests that need one."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection


def database_url() -> str:
    """pytest-django's test database as a libpq connection string (a socket folder as host works too), for the
    product's processes a test starts: data a test writes must be committed for them to see it
    (transactional_db)."""
    from psycopg.conninfo import make_conninfo

    database = connection.settings_dict
    parts = {"dbname": database["NAME"], "user": database["USER"], "password": database["PASSWORD"]}
    parts |= {"host": database["HOST"], "port": database["PORT"]}
    return make_conninfo(**{name: str(value) for name, value in parts.items() if value})


def start_worker(
    queues: str, *, name: str = "", pool: str = "solo", beat_dir: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`celery worker -Q queues -P solo` (named `name` when given; a prefork pool of one child with
    pool="prefork"; with Celery beat inside when `beat_dir` is given); `env` adds variables."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
        **env,
    }
    command = [str(Path(sys.executable).parent / "celery"), "-A", "controlplane", "worker", "-Q", queues, "-P", pool]
    if pool == "prefork":
        command += ["-c", "1"]
    if beat_dir is not None:
        command += ["-B", "-s", str(beat_dir / "celerybeat-schedule")]
    if name:
        command += ["-n", name]
    command += ["--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
    return subprocess.Popen(command, env=environment, cwd=settings.BASE_DIR)
