"""Postgres restarts in the middle of a 20,000-call ingest through POST /api/v1/calls (gunicorn, as
deployed), while a client keeps sending batches and retries what failed: afterwards the database holds
every call exactly once (the calls' own ids make a retried batch's stored calls duplicates, never copies)."""

import threading
import time
from collections.abc import Callable
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

CALLS, BATCH = 20_000, 500
RESTART_AFTER_BATCHES = 8
DOWN_S = 3.0

# A project, a key with the ingest scope (printed), and the pattern-only curation policy (spaCy's NER is
# not what this test is about, and it would triple the run time on a busy CI machine).
SETUP = """
from apps.curation.selectors import curation_policy_get
from apps.projects.services import api_key_create, project_create
project = project_create(slug="faults")
policy = curation_policy_get(project=project)
policy.ner_model_path = ""
policy.save()
print(api_key_create(project=project, name="agent", scopes=["ingest"])[1])
"""


def _call(i: int) -> dict[str, Any]:
    return {
        "id": f"fault-{i:05d}",
        "agent": "support-bot",
        "request": {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Classify the ticket."},
                {"role": "user", "content": f"Ticket {i}: my card was charged twice for order {i * 7}."},
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
    manage("migrate", "--no-input", env=env)
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
        postgres.stop("fast")  # the server ends every session; committed work stays
        time.sleep(DOWN_S)
        postgres.start()
        downtime[0] = time.monotonic() - down

    restarter = threading.Thread(target=restart, daemon=True)
    restarter.start()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    with httpx.Client(timeout=60) as client:
        for start in range(0, CALLS, BATCH):
            body = orjson.dumps({"calls": [_call(i) for i in range(start, start + BATCH)]})
            url = f"http://127.0.0.1:{port}/api/v1/calls"
            response = post_retrying(client, url, tally=tally, deadline=deadline, content=body, headers=headers)
            assert response.status_code == 200, response.text
            payload = response.json()
            totals["accepted"] += payload["accepted"]
            totals["duplicates"] += payload["duplicates"]
            totals["rejected"] += len(payload["rejected"])
            acked[0] += 1
    restarter.join(timeout=60)
    elapsed = time.monotonic() - started

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        stored, distinct, expected = conn.execute(
            "SELECT count(*), count(DISTINCT client_id), count(*) FILTER (WHERE client_id LIKE 'fault-%%') "
            "FROM calls_call"
        ).fetchone() or (0, 0, 0)
    print(
        f"\npostgres restart: {CALLS} calls sent in {CALLS // BATCH} batches, {tally.retries} retries "
        f"{tally.by_reason}, postgres down {downtime[0]:.1f} s, {elapsed:.1f} s in all; answered "
        f"{totals['accepted']} accepted + {totals['duplicates']} duplicates; stored {stored}, "
        f"{stored - distinct} duplicated"
    )
    assert downtime[0] >= DOWN_S, "Postgres was never restarted"
    assert tally.retries > 0, "no batch met the restart: the test proved nothing"
    assert totals["rejected"] == 0
    assert (stored, distinct, expected) == (CALLS, CALLS, CALLS)
