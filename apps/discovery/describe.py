"""How a cluster is described to people: keywords (class-based TF-IDF), its output, typical calls, a name
(apps.discovery.naming) and a hint of how well it suits a small model. Describing reads calls and writes
nothing; a run computes descriptions first and stores them in its short final transaction."""

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.models import TaskCluster, TaskEmbedding
from apps.discovery.naming import distinct_names, task_name
from apps.discovery.texts import OUTPUT_KIND_LABELS, STRUCTURED_KINDS, OutputKind, OutputSummary, output_summary

_WORD = re.compile(r"[a-z][a-z'_-]{2,}")
_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either else every few for from further get
    give given had has have having he her here hers herself him himself his how however i if in into is it its
    itself just let like make many may me might more most much must my myself need no nor not now of off on once
    one only or other our ours ourselves out over own please same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up us use used using very
    want was way we well were what when where which while who whom why will with within without would yes yet
    you your yours yourself yourselves only exactly write reply return answer user assistant message following
    below json object key keys value one two""".split()
)


def _terms(text: str) -> list[str]:
    words = (w.strip("'_-") for w in _WORD.findall(_PLACEHOLDER.sub(" ", text).lower()))
    return [w for w in words if w not in STOP_WORDS]


def keywords(documents: dict[str, list[str]], top: int = 8) -> dict[str, list[str]]:
    """c-TF-IDF (as in BERTopic): each cluster's texts are one document; a term scores
    tf(term, cluster) * log(1 + A / f(term)), A the mean number of words per cluster, f the term's
    frequency over all clusters."""
    counts = {c: Counter(t for text in texts for t in _terms(text)) for c, texts in documents.items()}
    totals = Counter[str]()
    for counter in counts.values():
        totals.update(counter)
    mean_words = sum(sum(c.values()) for c in counts.values()) / max(1, len(counts))
    result: dict[str, list[str]] = {}
    for cluster, counter in counts.items():
        size = sum(counter.values()) or 1
        scored = sorted(
            ((n / size) * math.log(1 + mean_words / totals[t]), t) for t, n in counter.items() if n >= 2 or size < 40
        )
        result[cluster] = [t for _, t in reversed(scored[-top:])]
    return result


@dataclass
class Suitability:
    level: str  # good, fair, poor
    score: int
    reasons: list[str] = field(default_factory=list)


def suitability(*, output_kind: str, calls: int, share: float, prompt_p99: float | None) -> Suitability:
    """Narrow, checkable outputs, volume, and prompts that fit small models' context windows."""
    score, reasons = 0, []
    if output_kind in STRUCTURED_KINDS:
        score += 2
        reasons.append(f"narrow, checkable output ({OUTPUT_KIND_LABELS[output_kind].lower()})")
    elif output_kind == OutputKind.CODE:
        score += 1
        reasons.append("code: checkable by running it, but open-ended")
    else:
        reasons.append("free-text answers are harder to check than structured ones")
    if calls >= 1000 or share >= 0.1:
        score += 2
        reasons.append(f"high volume ({calls:,} calls, {share:.0%} of traffic)")
    elif calls >= 100:
        score += 1
        reasons.append(f"some volume ({calls:,} calls, {share:.0%} of traffic)")
    else:
        reasons.append(f"few calls ({calls:,}): too little to train on yet")
    if prompt_p99 is None:
        reasons.append("prompt length unknown (no token counts logged)")
    elif prompt_p99 <= 4096:
        score += 2
        reasons.append(f"prompts fit a 4k context (p99 {prompt_p99:,.0f} tokens)")
    elif prompt_p99 <= 16384:
        score += 1
        reasons.append(f"prompts need a 16k context (p99 {prompt_p99:,.0f} tokens)")
    else:
        score -= 1
        reasons.append(f"long prompts (p99 {prompt_p99:,.0f} tokens) exceed most small models' windows")
    level = "good" if score >= 5 else "fair" if score >= 3 else "poor"
    return Suitability(level, score, reasons)


# --- describing tasks from their calls ------------------------------------------------------------------

REPRESENTATIVES = 5
DESCRIBE_SAMPLE = 400
Keys = tuple[str, ...]  # a call's task keys: system prompt, shape, user turn


@dataclass
class Members:
    """What a task is described from: its most confident calls first, and a random sample of its calls."""

    top: list[tuple[UUID, Keys]]
    sample: list[tuple[UUID, Keys]]


@dataclass
class Description:
    keywords: list[str]
    output_kind: str
    labels: list[str]
    json_keys: list[str]
    representatives: list[str]
    name: str  # the name discovery gives it; people's names win (see descriptions_write)


def members_from_calls(calls: list[tuple[UUID, float | None, Keys]], seed: int = 0) -> Members:
    """From (call id, confidence, keys) of every call of a task (a run holds them in memory)."""
    top = sorted(calls, key=lambda c: (-(c[1] or 0.0), str(c[0])))[:DESCRIBE_SAMPLE]
    if len(calls) <= DESCRIBE_SAMPLE:
        sample = calls
    else:
        rng = np.random.default_rng(seed)
        sample = [calls[int(i)] for i in np.sort(rng.choice(len(calls), size=DESCRIBE_SAMPLE, replace=False))]
    return Members([(c[0], c[2]) for c in top], [(c[0], c[2]) for c in sample])


def members_from_db(*, project_id: Any, cluster_id: UUID) -> Members:
    """From the calls stored in a task (after a merge moved calls)."""
    calls = Call.objects.filter(project_id=project_id, task_cluster_id=cluster_id)
    top = calls.order_by("-cluster_confidence", "id").values_list("id", "task_keys")[:DESCRIBE_SAMPLE]
    sample = calls.order_by("?").values_list("id", "task_keys")[:DESCRIBE_SAMPLE]
    return Members([(i, tuple(k or ())) for i, k in top], [(i, tuple(k or ())) for i, k in sample])


def _texts(keys: set[str]) -> dict[str, str]:
    wanted = sorted(k for k in keys if k)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 5000):
        found.update(TaskEmbedding.objects.filter(key__in=wanted[start : start + 5000]).values_list("key", "text"))
    return found


def _part(keys: Keys, i: int) -> str:
    return keys[i] if len(keys) > i else ""


def clusters_describe_compute(
    members: dict[UUID, Members], progress: Callable[[float, str], object] | None = None
) -> dict[UUID, Description]:
    """Keywords, output kind, labels, representatives and a name for each task. Reads calls; writes
    nothing. `progress(fraction, message)` after each task."""
    texts = _texts({_part(k, i) for m in members.values() for _, k in m.sample for i in (0, 2)})
    documents: dict[str, list[str]] = {}
    partial: dict[UUID, tuple[OutputSummary, list[str], list[str], list[str]]] = {}
    for n, (cluster_id, m) in enumerate(members.items()):
        seen_users: set[str] = set()
        reps: list[str] = []
        for call_id, keys in m.top:
            user = _part(keys, 2)
            if user not in seen_users and len(reps) < REPRESENTATIVES:
                seen_users.add(user)
                reps.append(str(call_id))
        responses = dict(Call.objects.filter(id__in=[i for i, _ in m.sample]).values_list("id", "response"))
        summary = output_summary([responses.get(i) for i, _ in m.sample])
        users = [texts.get(_part(k, 2), "") for _, k in m.sample]
        systems = Counter(_part(k, 0) for _, k in m.sample if _part(k, 0))
        prompts = [texts[key] for key, _ in systems.most_common() if key in texts]
        documents[str(cluster_id)] = users + [p[:300] for p in prompts]
        partial[cluster_id] = (summary, reps, users, prompts)
        if progress is not None:
            progress((n + 1) / len(members), f"Described {n + 1} of {len(members)} tasks")
    words = keywords(documents)
    out: dict[UUID, Description] = {}
    for cluster_id, (summary, reps, users, prompts) in partial.items():
        found = words.get(str(cluster_id), [])
        name = task_name(system_prompts=prompts, user_texts=users, output_kind=summary.kind, keywords=found)
        out[cluster_id] = Description(found, summary.kind, summary.labels, summary.json_keys, reps, name)
    return out


def names_distinct(descriptions: dict[UUID, Description], *, others: Iterable[str], fixed: Iterable[UUID] = ()) -> None:
    """Tasks named together never share a name, nor take one another task keeps (`others`). `fixed`:
    tasks people named, whose names stay (they are in `others` already)."""
    keep = set(fixed)
    named = {k: d for k, d in descriptions.items() if k not in keep}
    names = distinct_names(
        {str(k): d.name for k, d in named.items()}, {str(k): d.keywords for k, d in named.items()}, taken=others
    )
    for cluster_id, description in named.items():
        description.name = names[str(cluster_id)]


def descriptions_write(descriptions: dict[UUID, Description]) -> None:
    """Store the descriptions; the name only on tasks people have not named (edited)."""
    now = timezone.now()
    for cluster_id, d in descriptions.items():
        TaskCluster.objects.filter(id=cluster_id).update(
            keywords=d.keywords,
            output_kind=d.output_kind,
            labels=d.labels,
            json_keys=d.json_keys,
            representatives=d.representatives,
            updated_at=now,
        )
        TaskCluster.objects.filter(id=cluster_id, edited=False).update(name=d.name)
