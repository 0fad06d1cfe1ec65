"""Request-time routing: the task a chat.completions request belongs to, from the request alone.

Discovery reads each call's answer shape too, which a gateway does not have when a request arrives. So a
router decides from what the request says:
- its call site (apps.discovery.callsite): a call site whose stored calls are (almost) all in one task
  maps straight to it, a dict lookup. "Almost": the task holds at least DIRECT_SHARE of the site's
  assigned calls; the few others (calls at a task's edge that discovery gave a neighbour) are routed to
  it too, so at most 1 - DIRECT_SHARE of that site's calls route elsewhere than they are stored;
- otherwise (a site that carries several tasks, told apart by the user turn) or for a call site never
  seen, the fallback decides: by default the nearest task centre to the request's embedding, among the
  site's tasks for a known site, among all active tasks (or none, when nothing is near) for a new one.

A call site whose answers differ in shape (a tool call, or a text reply where the LLM declined to call a
tool) is one task: discovery gives such a site's calls to one task (pipeline._one_task_per_call_site).

The fallback is injected: embedding needs MiniLM (torch), which the web process never loads. Routing by
call site reads no database and imports no torch: a fingerprint and a dict lookup.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np

from apps.discovery.callsite import call_site
from apps.discovery.features import DIM, EMBED_CHARS, WEIGHTS
from apps.discovery.texts import request_texts

DIRECT_SHARE = 0.95

# (request, the tasks it may be in or None for any) -> task or None
Fallback = Callable[[dict[str, Any], Sequence[UUID] | None], UUID | None]
# texts -> one unit vector (DIM floats) per text
Embed = Callable[[Sequence[str]], np.ndarray]


class RouteBy:
    CALL_SITE = "call_site"
    FALLBACK = "fallback"
    NONE = "none"


@dataclass(frozen=True)
class Route:
    task_id: UUID | None
    call_site: str
    by: str


class TaskRouter:
    """Built from how many of each call site's stored calls are in each task (`site_tasks`)."""

    def __init__(
        self,
        site_tasks: Mapping[str, Mapping[UUID, int]],
        *,
        fallback: Fallback | None = None,
        direct_share: float = DIRECT_SHARE,
    ) -> None:
        self.direct: dict[str, UUID] = {}
        self.candidates: dict[str, tuple[UUID, ...]] = {}
        self.fallback = fallback
        for site, counts in site_tasks.items():
            ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
            total = sum(n for _, n in ranked)
            if not total:
                continue
            if ranked[0][1] >= direct_share * total:
                self.direct[site] = ranked[0][0]
            else:
                self.candidates[site] = tuple(task for task, _ in ranked)

    def by_site(self, request: dict[str, Any]) -> Route:
        """The call site's task when it decides (by CALL_SITE), else no task yet (by NONE): what routing
        costs without the fallback. The gateway asks the fallback itself, embedding off its event loop."""
        site = call_site(request)
        task = self.direct.get(site)
        return Route(task, site, RouteBy.CALL_SITE if task is not None else RouteBy.NONE)

    def route(self, request: dict[str, Any]) -> Route:
        route = self.by_site(request)
        if route.task_id is not None or self.fallback is None:
            return route
        return Route(self.fallback(request, self.candidates.get(route.call_site)), route.call_site, RouteBy.FALLBACK)


# How much of a call's similarity to its centre the shape text can carry: its share of the joined vector
# (weights squared). The request-only shape misses the answer's part, so a request is that much less
# similar to its task's centre at most than its logged call was.
SHAPE_SHARE = float(WEIGHTS[1] ** 2 / (WEIGHTS**2).sum())


class NearestCentre:
    """The embedding fallback: the request's texts (the answer's shape left out) embedded and joined as
    discovery joins them, then the nearest task centre. Among `candidates` the nearest wins; among all
    tasks, only a centre the request is at least as similar to as its threshold less SHAPE_SHARE (else
    None: drift)."""

    def __init__(self, owners: Sequence[UUID], centroids: np.ndarray, thresholds: np.ndarray, *, embed: Embed) -> None:
        self.owners = list(owners)
        self.centroids = np.asarray(centroids, dtype=np.float32).reshape(len(self.owners), 3 * DIM)
        self.thresholds = np.asarray(thresholds, dtype=np.float32) - SHAPE_SHARE
        self.embed = embed

    @staticmethod
    def texts(request: dict[str, Any]) -> list[str]:
        """The three texts of a request that are embedded (as discovery cuts them)."""
        return [t[:EMBED_CHARS] for t in request_texts(request).as_tuple()]

    @staticmethod
    def join(texts: Sequence[str], parts: np.ndarray) -> np.ndarray:
        """The texts' embeddings joined as discovery joins them: weighted, an empty text as zeros, unit length."""
        parts = np.asarray(parts, dtype=np.float32).reshape(3, DIM)
        x = np.concatenate(
            [w * p if t else np.zeros(DIM, np.float32) for w, p, t in zip(WEIGHTS, parts, texts, strict=True)]
        )
        return x / (np.linalg.norm(x) or 1.0)

    def vector(self, request: dict[str, Any]) -> np.ndarray:
        texts = self.texts(request)
        return self.join(texts, self.embed(texts))

    def __call__(self, request: dict[str, Any], candidates: Sequence[UUID] | None) -> UUID | None:
        return self.nearest(self.vector(request), candidates) if self.owners else None

    def nearest(self, vector: np.ndarray, candidates: Sequence[UUID] | None) -> UUID | None:
        """The task of the centre nearest to a request's joined `vector` (see the class)."""
        if not self.owners:
            return None
        sims = self.centroids @ vector
        if candidates is not None:
            allowed = np.array([owner in candidates for owner in self.owners])
            if allowed.any():
                return self.owners[int(np.where(allowed, sims, -np.inf).argmax())]
        best = int(sims.argmax())
        return self.owners[best] if sims[best] >= self.thresholds[best] else None
