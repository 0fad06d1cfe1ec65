"""`manage.py demo`: everything a first look needs, on one command (bin/demo runs it).

Migrates, creates an admin (the password is printed), a demo project and API key, starts the web
server (gunicorn), the gateway (uvicorn, as docker-compose's `gateway` service) and the Celery workers,
loads the shipped sample log through the REST API, prints the `manage.py replay_traffic` command that
sends the sample's calls through the gateway, and keeps running until Ctrl-C.
"""

import gzip
import http.client
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.projects.models import ApiKey, Project, Role
from apps.projects.services import api_key_create, api_key_revoke, membership_set, project_create

SAMPLE = settings.BASE_DIR / "demo" / "agent_logs_sample.jsonl"
DEMO_KEY_NAME = "demo loader"


class Command(BaseCommand):
    help = "Run the demo: web server and worker on embedded defaults, with the sample log loaded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--gateway-port", type=int, default=8001, help="the gateway's port (/v1/chat/completions)")
        parser.add_argument(
            "--specialists-port", type=int, default=8003, help="the CPU backend's port (serve_specialists)"
        )
        parser.add_argument(
            "--spread-days",
            type=int,
            default=7,
            help="the sample has no timestamps; spread its calls over this many past days",
        )
        parser.add_argument("--no-serve", action="store_true", help="load the sample, then stop the servers")

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        gateway_port: int,
        specialists_port: int,
        spread_days: int,
        no_serve: bool,
        **options: Any,
    ) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        password = self._admin_password()
        project = Project.objects.filter(slug="demo").first()
        if project is None:
            project = project_create(slug="demo", name="Demo agent")
        membership_set(project=project, user=User.objects.get(username="admin"), role=Role.ADMIN)
        for old in ApiKey.objects.filter(project=project, name=DEMO_KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(key=old)
        _, secret = api_key_create(project=project, name=DEMO_KEY_NAME)

        env = {
            **os.environ,
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
            "SERVING_LOCAL_BACKEND_URL": f"http://{host}:{specialists_port}/v1",
        }
        bin_dir = Path(sys.executable).parent
        children = [
            subprocess.Popen(
                [
                    str(bin_dir / "gunicorn"),
                    "--config",
                    "controlplane/gunicorn.conf.py",
                    "controlplane.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    "2",
                ],
                env=env,
                cwd=settings.BASE_DIR,
            ),
            subprocess.Popen(
                [
                    str(bin_dir / "uvicorn"),
                    "controlplane.asgi:application",
                    "--host",
                    host,
                    "--port",
                    str(gateway_port),
                    "--workers",
                    "2",
                    "--no-access-log",
                ],
                env=env,
                cwd=settings.BASE_DIR,
            ),
            # The CPU backend for classifier and LoRA deployments (it alone loads torch).
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "serve_specialists",
                    "--host",
                    host,
                    "--port",
                    str(specialists_port),
                ],
                env=env,
                cwd=settings.BASE_DIR,
            ),
            # One worker per queue, so a long training run never holds up an upload or a discovery run;
            # Celery beat rides in the cpu worker and runs the sweep that requeues jobs of dead workers.
            self._worker(bin_dir, env, "cpu", "-B", "-s", str(settings.VAR_DIR / "celerybeat-schedule")),
            self._worker(bin_dir, env, "gpu", "-n", "gpu@%h"),
        ]
        try:
            self._wait_for(host, port, children)
            self._wait_for(host, gateway_port, children, "the gateway")
            self._wait_for(host, specialists_port, children, "the specialists' CPU backend")
            self._load_sample(host, port, secret, spread_days)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nDownshift is running at http://localhost:{port}/\n"
                    f"  log in as: admin / {password}\n"
                    f"  demo project API key: {secret}\n"
                    f"  API docs: http://localhost:{port}/api/docs\n"
                    f"  find the sample's tasks: open http://localhost:{port}/p/demo/tasks/ and press 'Find tasks'\n"
                    f"  the gateway (OpenAI-compatible): http://localhost:{gateway_port}/v1/chat/completions\n"
                    "  send the sample's calls through it, answered by a stand-in LLM replaying the logged answers:\n"
                    f"    .venv/bin/python manage.py replay_traffic --project demo --rate 5 "
                    f"--gateway http://{host}:{gateway_port}\n"
                    "Press Ctrl-C to stop."
                )
            )
            if no_serve:
                return
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while all(child.poll() is None for child in children):
                time.sleep(1)
            raise CommandError("a server process stopped; see its output above")
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _admin_password(self) -> str:
        """The admin's password: created once, kept in var/ so every run can print it."""
        path = Path(settings.VAR_DIR) / "admin-password.txt"
        user = User.objects.filter(username="admin").first()
        if user is not None and path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(9)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        if user is None:
            User.objects.create_superuser("admin", "admin@example.com", password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        return password

    @staticmethod
    def _worker(bin_dir: Path, env: dict[str, str], queue: str, *extra: str) -> subprocess.Popen[bytes]:
        command = [str(bin_dir / "celery"), "-A", "controlplane", "worker", "-Q", queue, "--concurrency", "1"]
        return subprocess.Popen([*command, *extra, "--loglevel", "INFO"], env=env, cwd=settings.BASE_DIR)

    def _wait_for(
        self, host: str, port: int, children: list[subprocess.Popen[bytes]], what: str = "the web server"
    ) -> None:
        for _ in range(120):
            if any(child.poll() is not None for child in children):
                raise CommandError("the web server, the gateway or a worker failed to start; see the output above")
            try:
                conn = http.client.HTTPConnection(host, port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise CommandError(f"{what} did not answer on {host}:{port}")

    def _load_sample(self, host: str, port: int, secret: str, spread_days: int) -> None:
        lines = SAMPLE.read_bytes().splitlines()
        now = timezone.now()
        step = timedelta(days=spread_days) / max(len(lines), 1)
        records = []
        for i, line in enumerate(lines):
            record = orjson.loads(line)
            record.pop("task", None)  # the true label is for measuring only, never an input
            record.pop("source", None)
            record.setdefault("agent", "sample-agent")
            record.setdefault("timestamp", (now - step * (len(lines) - i)).isoformat())
            records.append(record)
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        conn = http.client.HTTPConnection(host, port, timeout=120)
        for start in range(0, len(records), 1000):
            body = gzip.compress(orjson.dumps({"calls": records[start : start + 1000]}))
            conn.request(
                "POST",
                "/api/v1/calls",
                body=body,
                headers={
                    "Authorization": f"Bearer {secret}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                },
            )
            response = conn.getresponse()
            payload = orjson.loads(response.read())
            if response.status not in (200, 207):
                raise CommandError(f"loading the sample failed ({response.status}): {payload}")
            totals["accepted"] += payload["accepted"]
            totals["duplicates"] += payload["duplicates"]
            totals["rejected"] += len(payload["rejected"])
            done = min(start + 1000, len(records))
            self.stdout.write(
                f"\rloading the sample through POST /api/v1/calls: {done}/{len(records)} calls", ending=""
            )
            self.stdout.flush()
        self.stdout.write(
            f"\nsample loaded: {totals['accepted']} stored, {totals['duplicates']} already there, "
            f"{totals['rejected']} rejected"
        )
