"""Training eligibility on ingest: per-call rules, and exact / near-duplicate prompts across batches."""

import threading
from typing import Any

import pytest
from django.db import connection

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.curation import eligibility
from apps.projects.models import Project
from apps.projects.services import project_create
from tests.conftest import make_call

LONG = (
    "Please summarise the following incident report for the weekly operations review meeting: the storage "
    "cluster in the west region lost two nodes after a firmware update, replication caught up within forty "
    "minutes, no customer data was lost and the rollback plan worked as written"
)


def distinct_text(i: int) -> str:
    """Prompts that share no three-word run with each other."""
    return " ".join(f"w{(i * 7919 + j * 104729) % 100003}" for j in range(12))


def asking(text: str, **overrides: Any) -> dict[str, Any]:
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Summarise."}, {"role": "user", "content": text}],
    }
    return make_call(request=request, **overrides)


def ingest(project: Project, *records: dict[str, Any]) -> dict[str, Call]:
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    return {c.client_id: c for c in Call.objects.filter(project=project) if c.client_id}


def test_per_call_rules_are_stored_with_their_reason(project: Project) -> None:
    calls = ingest(
        project,
        asking("fine", id="ok"),
        asking("boom", id="err", status="error", error="upstream 500"),
        asking("cut", id="cut", response={"role": "assistant", "content": "The incident", "finish_reason": "length"}),
        asking("empty", id="empty", response={"role": "assistant", "content": "  "}),
        asking("big", id="big", usage={"prompt_tokens": 9000, "completion_tokens": 10}),
        asking(
            "tool",
            id="tool",
            response={
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}],
            },
        ),
    )
    verdicts = {cid: (c.trainable, c.exclusion_reason) for cid, c in calls.items()}
    assert verdicts == {
        "ok": (True, ""),
        "err": (False, eligibility.ERROR),
        "cut": (False, eligibility.TRUNCATED),
        "empty": (False, eligibility.EMPTY_RESPONSE),
        "big": (False, eligibility.TOO_LONG),
        "tool": (False, eligibility.INVALID_TOOL_JSON),
    }


def test_exact_duplicates_across_batches_point_to_the_first(project: Project) -> None:
    first = ingest(project, asking(LONG, id="a"))["a"]
    calls = ingest(project, asking(LONG.upper(), id="b"), asking("  " + LONG.replace(" ", "   "), id="c"))
    assert first.trainable
    for cid in ("b", "c"):
        assert (calls[cid].trainable, calls[cid].exclusion_reason, calls[cid].duplicate_of) == (
            False,
            eligibility.DUPLICATE,
            first.id,
        )


def test_near_duplicates_are_flagged_and_different_prompts_are_not(project: Project) -> None:
    ingest(project, asking(LONG, id="a"))
    calls = ingest(
        project,
        asking(LONG.replace("written", "planned"), id="near"),
        asking("Translate the release notes of version four into French for the Paris office", id="other"),
    )
    assert calls["near"].exclusion_reason == eligibility.NEAR_DUPLICATE and calls["near"].duplicate_of == calls["a"].id
    assert calls["other"].trainable


def test_an_excluded_call_does_not_block_a_good_copy(project: Project) -> None:
    ingest(project, asking(LONG, id="bad", status="error", error="500"))
    calls = ingest(project, asking(LONG, id="good"))
    assert calls["bad"].exclusion_reason == eligibility.ERROR and calls["good"].trainable


def test_within_one_batch_the_first_stays_trainable(project: Project) -> None:
    calls = ingest(project, asking(LONG, id="a"), asking(LONG, id="b"), asking(LONG, id="c"))
    assert sorted(c.trainable for c in calls.values()) == [False, False, True]
    original = next(c for c in calls.values() if c.trainable)
    assert {c.duplicate_of for c in calls.values() if not c.trainable} == {original.id}


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_keep_one_copy_of_a_prompt() -> None:
    project = project_create(slug="dup-race")
    barrier = threading.Barrier(2)

    def send(prefix: str) -> None:
        try:
            barrier.wait()
            records = [asking(distinct_text(i), id=f"{prefix}{i}") for i in range(200)]
            calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(p,)) for p in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Call.objects.filter(project=project).count() == 400
    assert Call.objects.filter(project=project, trainable=True).count() == 200
