"""Postgres crashes (stopped in immediate mode) and restarts in the middle of a 20,000-call ingest through
POST /api/v1/calls (gunicorn, as deployed), while clients keep sending batches and retry what failed (the API
answers 503 with Retry-After meanwhile): afterwards the database holds every call exactly once (the calls' own
ids make a retried batch's stored calls duplicates, never copies)."""

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from tests.faults.conftest import FAULT_TIMEOUT_S
from tests.faults.procs import (
    PrivatePostgres,
    Tally,
    free_port,
    gunicorn,
    http_ok,
    manage,
    post_retrying,
    scratch_dir,
    until,
)

pytestmark = pytest.mark.timeout(FAULT_TIMEOUT_S)

CALLS, BATCH, CLIENTS = 20_000, 500, 2
RESTART_AFTER_BATCHES = 10
DOWN_S = 3.0

# The schema, a project, a key with the ingest scope (printed), and the pattern-only curation policy (spaCy's NER is
# not what this test is about, and it would triple the run time on a busy CI machine).
SETUP = """
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from apps.curation.selectors import curation_policy_get
from apps.projects.services import api_key_create, project_create
project = project_create(slug="faults")
policy = curation_policy_get(project=project)
policy.ner_model_path = ""
policy.save()
print(api_key_create(project=project, name="agent", scopes=["ingest"])[1])
"""


SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "bi", "da", "fe", "go", "hu", "ji", "pa", "zo"]


def _text(i: int) -> str:
    """Words of its own for each call: calls that all look alike are near-duplicates, whose matching is a
    cost of its own (bench/), not what this test is about."""
    pick = random.Random(i).choice
    return " ".join(pick(SYLLABLES) + pick(SYLLABLES) + pick(SYLLABLES) for _ in range(12))


def _call(i: int) -> dict[str, Any]:
    return {
        "id": f"fault-{i:05d}",
        "agent": "support-bot",
        "request": {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Classify the ticket."},
                {"role": "user", "content": f"Ticket {i}: {_text(i)}"},
            ],
        },
        "response": {"role": "assistant", "content": "billing"},
        "latency_ms": 420,
    }


def test_a_postgres_restart_mid_ingest_loses_and_duplicates_no_call(
    base_env: dict[str, str], cleanup: Callable[[Callable[[], Any]], None]
) -> None:
    folder = scratch_dir("pg")
    postgres = PrivatePostgres(folder)
    cleanup(postgres.cleanup)
    postgres.start()
    env = base_env | {"DATABASE_URL": postgres.create_database("downshift")}
    secret = manage("shell", "-c", SETUP, env=env).strip().splitlines()[-1]

    port = free_port()
    web = gunicorn(port, env=env, log_dir=folder)
    cleanup(web.stop)
    web.start()
    until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=60, what="gunicorn")

    tally, acked, downtime = Tally(), [0], [0.0]
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    started = time.monotonic()
    deadline = started + FAULT_TIMEOUT_S - 60

    def restart() -> None:
        until(lambda: acked[0] >= RESTART_AFTER_BATCHES, timeout=120, what="the first batches")
        down = time.monotonic()
        postgres.stop("immediate")  # as a crash: every session cut off, committed work recovered from the WAL
        time.sleep(DOWN_S)
        postgres.start()
        downtime[0] = time.monotonic() - down

    restarter = threading.Thread(target=restart, daemon=True)
    restarter.start()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    lock = threading.Lock()

    def send(starts: range) -> None:
        with httpx.Client(timeout=60) as client:
            for start in starts:
                body = orjson.dumps({"calls": [_call(i) for i in range(start, start + BATCH)]})
                url = f"http://127.0.0.1:{port}/api/v1/calls"
                response = post_retrying(client, url, tally=tally, deadline=deadline, content=body, headers=headers)
                assert response.status_code == 200, response.text
                payload = response.json()
                with lock:
                    totals["accepted"] += payload["accepted"]
                    totals["duplicates"] += payload["duplicates"]
                    totals["rejected"] += len(payload["rejected"])
                    acked[0] += 1

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, [range(c * BATCH, CALLS, BATCH * CLIENTS) for c in range(CLIENTS)]))
    restarter.join(timeout=60)
    elapsed = time.monotonic() - started

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        stored, distinct, expected = conn.execute(
            "SELECT count(*), count(DISTINCT client_id), count(*) FILTER (WHERE client_id LIKE 'fault-%%') "
            "FROM calls_call"
        ).fetchone() or (0, 0, 0)
    print(
        f"\npostgres restart: {CALLS} calls sent in {CALLS // BATCH} batches by {CLIENTS} clients, "
        f"{tally.retries} retries {tally.by_reason}, postgres down {downtime[0]:.1f} s, {elapsed:.1f} s in all; "
        "answered "
        f"{totals['accepted']} accepted + {totals['duplicates']} duplicates; stored {stored}, "
        f"{stored - distinct} duplicated"
    )
    assert downtime[0] >= DOWN_S, "Postgres was never restarted"
    assert tally.retries > 0, "no batch met the restart: the test proved nothing"
    assert "500" not in tally.by_reason, "the API failed a batch with a 500, not a 503 asking for a retry"
    assert totals["rejected"] == 0
    assert (stored, distinct, expected) == (CALLS, CALLS, CALLS)
