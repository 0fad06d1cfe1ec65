"""From calls to feature vectors: each call's three task texts (apps.discovery.texts) are embedded
once (the TaskEmbedding cache), and a call's vector is the three, weighted and joined.

Runs in the worker: embedding imports torch (lazily, in workers.jobs.embedding).
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

import numpy as np
from django.db import connection
from django.db.models import Q

from apps.calls.models import Call
from apps.discovery.callsite import call_site
from apps.discovery.models import TaskEmbedding
from apps.discovery.texts import task_texts, text_key

# System prompt, call shape, user turn. The system prompt and shape say which call site a call
# comes from; the user turn tells tasks apart that share one.
WEIGHTS = np.array([1.0, 0.6, 1.0], dtype=np.float32)
DIM = 384
READ_BATCH = 2000
# Rows fetched from the database at a time: a call can be megabytes of JSON, and each fetched row is
# parsed whole, so a small fetch keeps the worker's memory bounded (100 calls of 20 MB at worst).
FETCH_ROWS = 100
# The most of a text that is embedded (and cached): all-MiniLM-L6-v2 reads at most 256 word pieces,
# about 1,000 to 1,500 characters, so nothing past this changes a vector. The task texts are capped
# already (apps.discovery.texts); this cut holds whatever they become.
EMBED_CHARS = 2_000


def _store_embeddings(texts: dict[str, str], progress: Callable[[int], object] | None) -> int:
    """Embed the texts not cached yet; returns how many were embedded."""
    known: set[str] = set()
    keys = list(texts)
    for start in range(0, len(keys), 5000):
        known.update(TaskEmbedding.objects.filter(key__in=keys[start : start + 5000]).values_list("key", flat=True))
    missing = [k for k in keys if k not in known and texts[k]]
    if not missing:
        return 0
    from workers.jobs.embedding import embed

    vectors = embed([texts[k] for k in missing], progress=progress)
    TaskEmbedding.objects.bulk_create(
        [TaskEmbedding(key=k, text=texts[k], vector=vectors[i].tobytes()) for i, k in enumerate(missing)],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return len(missing)


def unread() -> Q:
    """Calls whose task keys or call site were not read yet."""
    return Q(task_keys=None) | Q(call_site="")


def task_keys_ensure(*, call_ids: Sequence[UUID], progress: Callable[[int, int], bool] | None = None) -> int:
    """Read the calls that have no task keys (or call site) yet, embed their new texts and store the keys
    and the call site.
    `progress(calls_done, texts_embedded)` returns False to stop. Returns the number of texts embedded."""
    embedded = 0
    for start in range(0, len(call_ids), READ_BATCH):
        chunk = call_ids[start : start + READ_BATCH]
        rows = Call.objects.filter(unread(), id__in=chunk).values_list("id", "request", "response")
        ids: list[UUID] = []
        triples: list[list[str]] = []
        sites: list[str] = []
        texts: dict[str, str] = {}
        for call_id, request, response in rows.iterator(chunk_size=FETCH_ROWS):
            parts = [t[:EMBED_CHARS] for t in task_texts(request or {}, response).as_tuple()]
            keys = [text_key(t) if t else "" for t in parts]
            texts.update((k, t) for k, t in zip(keys, parts, strict=True) if k)
            ids.append(call_id)
            triples.append(keys)
            sites.append(call_site(request or {}))
        report: Callable[[int], object] | None = None
        if progress is not None:
            report = lambda n, done=start, before=embedded: progress(done, before + n)  # noqa: E731
        embedded += _store_embeddings(texts, report)
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE calls_call AS c SET task_keys = ARRAY[v.s, v.h, v.u], call_site = v.site FROM "
                    "unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[]) AS v(id, s, h, u, site) "
                    "WHERE c.id = v.id",
                    [ids, [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples], sites],
                )
        if progress is not None and progress(start + len(chunk), embedded) is False:
            break
    return embedded


def vectors_get(keys: Iterable[str]) -> dict[str, np.ndarray]:
    wanted = sorted({k for k in keys if k})
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), 5000):
        for key, vector in TaskEmbedding.objects.filter(key__in=wanted[start : start + 5000]).values_list(
            "key", "vector"
        ):
            found[key] = np.frombuffer(bytes(vector), dtype=np.float32)
    return found


def texts_embed(texts: Sequence[str]) -> np.ndarray:
    """One unit vector per text (zeros for an empty one), from the cache, embedding and caching those not
    embedded before. Imports torch when a text is new: for workers (the router's embedding fallback)."""
    wanted = {text_key(t): t for t in texts if t}
    _store_embeddings(wanted, None)
    found = vectors_get(wanted)
    zeros = np.zeros(DIM, dtype=np.float32)
    return np.stack([found.get(text_key(t), zeros) if t else zeros for t in texts]) if texts else zeros[:0]


def combine(triples: Sequence[Sequence[str]], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """One unit vector per key triple: the part vectors weighted and joined (a missing part is zeros)."""
    out = np.zeros((len(triples), 3 * DIM), dtype=np.float32)
    for row, triple in enumerate(triples):
        for part, key in enumerate(triple):
            vector = vectors.get(key)
            if vector is not None:
                out[row, part * DIM : (part + 1) * DIM] = WEIGHTS[part] * vector
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


class CallVectors:
    """The calls of a scope, grouped by identical key triples: `x[row]` is the vector of `rows[row]`,
    `index[i]` the row of call `ids[i]`."""

    def __init__(self, ids: list[UUID], triples: list[tuple[str, ...]]) -> None:
        self.ids = ids
        position: dict[tuple[str, ...], int] = {}
        self.index = np.fromiter((position.setdefault(t, len(position)) for t in triples), dtype=np.int64)
        self.rows = list(position)
        self.counts = np.bincount(self.index, minlength=len(self.rows)).astype(np.int64)
        self.x = combine(self.rows, vectors_get(k for t in self.rows for k in t))

    def __len__(self) -> int:
        return len(self.ids)


def call_vectors(rows: Iterable[tuple[Any, ...]]) -> CallVectors:
    """From (id, task_keys) pairs."""
    ids: list[UUID] = []
    triples: list[tuple[str, ...]] = []
    for call_id, keys in rows:
        ids.append(call_id)
        triples.append(tuple(keys or ("", "", "")))
    return CallVectors(ids, triples)
