"""`manage.py check --deploy` is clean with the documented production environment (deploy/production.env),
and not without it."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _production_env() -> dict[str, str]:
    lines = (ROOT / "deploy" / "production.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def _check_deploy(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra}
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_documented_production_environment_passes_the_deploy_checks() -> None:
    production = _production_env()
    assert production["SECURE_SSL_REDIRECT"] == "true" and "SECRET_KEY" not in production
    done = _check_deploy({**production, "SECRET_KEY": secrets.token_urlsafe(50)})
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout and "WARNINGS" not in done.stderr


def test_the_development_defaults_do_not() -> None:
    development = {name: "" for name in _production_env()} | {"DEBUG": "false", "SECRET_KEY": ""}
    done = _check_deploy(development)
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr
