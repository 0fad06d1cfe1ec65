"""A 5 MB call goes through discovery and assignment like any other: each reads a bounded head of it."""

import copy
from collections.abc import Callable
from typing import Any

from apps.calls.models import Call
from apps.discovery import services
from apps.discovery.features import EMBED_CHARS
from apps.discovery.models import DiscoveryRun, TaskEmbedding
from apps.discovery.texts import SYSTEM_CHARS
from apps.projects.models import Project

MB = 1024 * 1024
FILLER = " and then the parcel went back to the depot and nobody told us why it was late again"


def padded(record: dict[str, Any], call_id: str) -> dict[str, Any]:
    """The record with its last user message made 5 MB long."""
    huge = copy.deepcopy(record)
    huge["id"] = call_id
    message = next(m for m in reversed(huge["request"]["messages"]) if m["role"] == "user")
    message["content"] += FILLER * (5 * MB // len(FILLER))
    assert len(message["content"]) > 5 * MB - 100
    return huge


def test_a_5_mb_call_is_discovered_and_a_later_one_is_assigned(
    sample_calls: Project,
    ingest: Callable[..., int],
    run_discovery: Callable[..., DiscoveryRun],
    sample_records: list[dict[str, Any]],
    settings: Any,
) -> None:
    # Over the default text budget: an installation that takes 5 MB calls raises it (tests/calls/test_huge_call.py).
    settings.INGEST_MAX_CALL_TEXT_CHARS = settings.INGEST_MAX_REQUEST_TEXT_CHARS = 6 * MB
    review = next(r for r in sample_records if r["task"] == "sentiment_classification")
    assert ingest([padded(review, "huge-1")]) == 1

    run_discovery(min_cluster_size=10)

    first = Call.objects.get(project=sample_calls, client_id="huge-1")
    assert first.task_keys and all(first.task_keys)
    texts = dict(TaskEmbedding.objects.filter(key__in=first.task_keys).values_list("key", "text"))
    assert 0 < len(texts[first.task_keys[2]]) <= min(EMBED_CHARS, SYSTEM_CHARS)

    assert ingest([padded(review, "huge-2")]) == 1
    assert services.calls_assign_all(project_id=sample_calls.id) == 1
    second = Call.objects.get(project=sample_calls, client_id="huge-2")
    assert second.cluster_assigned_at is not None and second.task_keys == first.task_keys
