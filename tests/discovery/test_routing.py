"""Requests are routed to their task from the request alone: by call site where a call site carries one
task, else by the embedding fallback; and the route of every logged call is the task it is stored in."""

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import numpy as np

from apps.calls.models import Call
from apps.discovery.callsite import call_site
from apps.discovery.features import DIM, texts_embed
from apps.discovery.models import DiscoveryRun
from apps.discovery.routing import NearestCentre, RouteBy, TaskRouter
from apps.discovery.selectors import task_router_build
from apps.projects.models import Project
from tests.discovery.conftest import _records

A, B, C = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)


def _request(system: str, user: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}], **extra}


class _Recorder:
    def __init__(self, answer: UUID | None) -> None:
        self.answer = answer
        self.asked: list[tuple[dict[str, Any], Sequence[UUID] | None]] = []

    def __call__(self, request: dict[str, Any], candidates: Sequence[UUID] | None) -> UUID | None:
        self.asked.append((request, candidates))
        return self.answer


def test_a_call_site_with_one_task_routes_straight_to_it_without_the_fallback() -> None:
    fallback = _Recorder(C)
    router = TaskRouter({call_site(_request("Classify the ticket.")): {A: 40}}, fallback=fallback)

    route = router.route(_request("Classify the ticket.", user="My card was charged twice on 2024-06-11"))

    assert (route.task_id, route.by) == (A, RouteBy.CALL_SITE)
    assert fallback.asked == []


def test_an_unknown_call_site_goes_to_the_fallback_with_any_task_allowed() -> None:
    fallback = _Recorder(C)
    router = TaskRouter({call_site(_request("Classify the ticket.")): {A: 40}}, fallback=fallback)
    request = _request("Summarise the paper in one sentence.")

    route = router.route(request)

    assert (route.task_id, route.by) == (C, RouteBy.FALLBACK)
    assert fallback.asked == [(request, None)]
    assert TaskRouter({}).route(request).task_id is None  # no fallback: no task, the LLM answers


def test_a_call_site_carrying_several_tasks_lets_the_fallback_choose_among_them() -> None:
    fallback = _Recorder(B)
    site = call_site(_request("You are a helpful assistant."))
    router = TaskRouter({site: {A: 60, B: 40}}, fallback=fallback)

    route = router.route(_request("You are a helpful assistant.", user="Translate this"))

    assert (route.task_id, route.by) == (B, RouteBy.FALLBACK)
    assert fallback.asked[0][1] == (A, B)


def test_a_task_holding_almost_all_of_a_call_sites_calls_takes_the_call_site() -> None:
    site = call_site(_request("Classify the ticket."))
    almost = TaskRouter({site: {A: 96, B: 4}}, fallback=_Recorder(B))
    split = TaskRouter({site: {A: 94, B: 6}}, fallback=_Recorder(B))

    assert almost.route(_request("Classify the ticket.")).task_id == A
    assert split.route(_request("Classify the ticket.")).task_id == B


def test_the_nearest_centre_reads_the_request_without_an_answer_and_keeps_to_the_candidates() -> None:
    seen: list[str] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        seen.extend(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        out[:, 0] = 1.0  # every part points the same way: the request is the first axis of each part
        return out

    near = np.zeros(3 * DIM, dtype=np.float32)
    near[[0, DIM, 2 * DIM]] = 1.0
    far = np.zeros(3 * DIM, dtype=np.float32)
    far[[1, DIM + 1, 2 * DIM + 1]] = 1.0
    centres = np.stack([near / np.linalg.norm(near), far / np.linalg.norm(far)])
    fallback = NearestCentre([A, B], centres, np.array([0.5, 0.5]), embed=embed)
    request = _request("Use the tools.", tools=[{"type": "function", "function": {"name": "f"}}])

    assert fallback(request, None) == A
    assert fallback(request, (B, C)) == B  # a known call site's tasks only, however far
    assert seen[1] == "tools offered" and "answer" not in " ".join(seen)
    assert NearestCentre([A], centres[1:], np.array([0.5]), embed=embed)(request, None) is None  # nothing near


def test_the_sample_routes_by_call_site_to_the_true_task(sample_records: list[dict[str, Any]]) -> None:
    """All 3,000 sample calls, their true task as the stored one: learnt from the first half, every
    call site seen before routes to its task, and only call sites never seen go to the fallback."""
    half = len(sample_records) // 2
    learnt: dict[str, Counter[Any]] = {}
    for record in sample_records[:half]:
        learnt.setdefault(call_site(record["request"]), Counter())[record["task"]] += 1
    fallback = _Recorder(None)
    router = TaskRouter(learnt, fallback=fallback)

    routes = [router.route(r["request"]) for r in sample_records[half:]]

    direct = [(route, r) for route, r in zip(routes, sample_records[half:], strict=True) if route.by == "call_site"]
    assert all(route.task_id == r["task"] for route, r in direct)
    assert len(fallback.asked) == len(routes) - len(direct) == sum(1 for r in routes if r.call_site not in learnt)
    print(f"\nheld-out half: {len(direct)}/{len(routes)} routed by call site, {len(fallback.asked)} to the fallback")
    assert len(direct) >= 0.95 * len(routes)  # only function-calling sites with a new set of tools are new


def test_every_logged_call_routes_to_the_task_discovery_stored_it_in(
    project: Project,
    ingest: Callable[..., int],
    run_discovery: Callable[..., DiscoveryRun],
    sample_records: list[dict[str, Any]],
) -> None:
    """Discovery on 40 calls of each of the sample's tasks but one, then each stored call's request routed
    (the answer unread) as the gateway would route it; requests of the task left out fit no task."""
    tasks = tuple(sorted({r["task"] for r in sample_records} - {"math_word_problem"}))
    ingest(_records(sample_records, tasks, 40))
    run_discovery(min_cluster_size=10)
    router = task_router_build(project=project, embed=texts_embed)

    stored = list(Call.objects.filter(project=project).values_list("request", "task_cluster_id"))
    routes = [router.route(request) for request, _ in stored]

    agree = sum(1 for route, (_, task) in zip(routes, stored, strict=True) if route.task_id == task)
    by = Counter(route.by for route in routes)
    share = agree / len(stored)
    print(f"\nrequest-time route = stored task: {agree}/{len(stored)} = {share:.4f}; routed by {dict(by)}")
    assert len(stored) == 280
    assert share >= 0.99
    # The embedding fallback alone, for a call site never seen: the nearest centre to the request's texts.
    assert router.fallback is not None
    nearest = sum(1 for request, task in stored if router.fallback(request, None) == task) / len(stored)
    print(f"embedding fallback alone (no call sites): {nearest:.4f}")
    assert nearest >= 0.95
    unknown = [router.route(r["request"]) for r in _records(sample_records, ("math_word_problem",), 20)]
    assert {(route.task_id, route.by) for route in unknown} == {(None, "fallback")}
