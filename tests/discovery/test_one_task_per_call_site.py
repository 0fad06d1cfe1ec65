"""A call site whose answers differ in shape is one task: discovery does not split it by the answer's
shape (which a router cannot see before the answer), and its specialist learns both shapes."""

import copy
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from apps.calls.models import Call
from apps.discovery import pipeline
from apps.discovery.features import DIM, texts_embed
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.discovery.selectors import task_router_build
from apps.projects.models import Project
from workers.jobs import clustering


def test_a_call_sites_clusters_that_differ_in_answer_shape_become_one() -> None:
    # rows (distinct calls): site s1 answers with tool calls (rows 0, 1) or text (row 2); site s2 holds two
    # tasks told apart by the user turn, same shape (rows 3, 4); site s3's text replies share row 2's cluster.
    rows = [("s1", "tool", "u0"), ("s1", "tool", "u1"), ("s1", "text", "u2"), ("s2", "json", "u3")]
    rows += [("s2", "json", "u4"), ("s3", "text", "u5")]
    counts = np.array([5, 4, 3, 6, 6, 7])
    index = np.repeat(np.arange(len(rows)), counts)
    sites = [rows[r][0] for r in index]
    x = np.random.default_rng(0).normal(size=(len(rows), 12)).astype(np.float32)
    vectors = SimpleNamespace(index=index, counts=counts, rows=rows, x=x / np.linalg.norm(x, axis=1, keepdims=True))
    found = SimpleNamespace(labels=np.array([0, 0, 1, 2, 3, 1]), confidence=np.ones(len(rows), dtype=np.float32))

    joined = pipeline._one_task_per_call_site(found, vectors, sites)  # type: ignore[arg-type]

    assert found.labels.tolist() == [0, 0, 0, 2, 3, 1]
    assert [(j.call_site, j.source, j.target, j.moved) for j in joined] == [("s1", 1, 0, 3)]
    assert (joined[0].source_shape, joined[0].target_shape) == ("text", "tool")
    assert 0.0 <= float(found.confidence[2]) <= 1.0


def _by_answer_shape(x: np.ndarray, counts: np.ndarray, **_: Any) -> clustering.Clustering:
    """What discovery did on the independent corpus, every time: one cluster per answer shape."""
    shape = x[:, DIM : 2 * DIM] / np.linalg.norm(x[:, DIM : 2 * DIM], axis=1, keepdims=True)
    _, labels = np.unique(np.round(shape, 3), axis=0, return_inverse=True)
    labels = labels.reshape(-1).astype(np.int64)
    k = int(labels.max()) + 1
    centroids, spread, threshold = clustering.centres(x, labels, k, counts.astype(np.float32))
    return clustering.Clustering(
        centroids, spread, threshold, labels, np.ones(len(x), np.float32), np.arange(len(x)), np.zeros((len(x), 2))
    )


@pytest.fixture
def declining_agent(sample_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One function-calling call site (one set of tools): 45 answers call a tool, 15 decline in text;
    and 40 sentiment calls, another call site."""
    calling = [r for r in sample_records if r["task"] == "function_calling"]
    tools = [t for r in calling[:30] for t in r["request"]["tools"]]
    records = []
    for i, record in enumerate(calling[:60]):
        record = copy.deepcopy(record)
        record["request"]["tools"] = tools
        if i % 4 == 0:
            record["response"] = {"role": "assistant", "content": "Which date do you mean? I need it to go on."}
        records.append(record)
    return records + [r for r in sample_records if r["task"] == "sentiment_classification"][:40]


def test_discovery_keeps_a_call_site_that_answers_in_two_shapes_as_one_task(
    project: Project,
    ingest: Callable[..., int],
    run_discovery: Callable[..., DiscoveryRun],
    declining_agent: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clustering, "cluster", _by_answer_shape)
    ingest(declining_agent)

    run = run_discovery(min_cluster_size=10)

    calling = Call.objects.filter(project=project, request__tools__isnull=False)
    kinds = Counter((c.task_cluster_id, c.response.get("tool_calls") is not None) for c in calling)
    (task_id,) = {task for task, _ in kinds}
    assert kinds == Counter({(task_id, True): 45, (task_id, False): 15})
    assert run.clusters_found == 2 == TaskCluster.objects.filter(project=project, status="active").count()
    (joined,) = run.changes["call_sites_joined"]
    assert joined["calls"] == 15 and joined["task"]["id"] == str(task_id)
    assert joined["answer_shapes"] == [
        "tools offered; answer: tool calls",
        "tools offered; answer: free text, one sentence",
    ]
    router = task_router_build(project=project, embed=texts_embed)
    routes = [router.route(c.request) for c in calling]
    assert {(r.task_id, r.by) for r in routes} == {(task_id, "call_site")}
