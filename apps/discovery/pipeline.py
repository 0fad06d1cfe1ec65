"""A discovery run, start to end: pick the calls, read and embed their task texts (cached), cluster,
match the clusters to the tasks people already know, describe them, and record every call's task.

Every stage computes outside any transaction and reports progress as it goes, so a person's Cancel (an
UPDATE of the run row) is answered at once and seen at the next report. The results are written at the
end in one short transaction with no progress write in it; a run that starts over after a lost worker
changes nothing twice. Then the tasks' statistics are refreshed (apps.discovery.stats).
"""

import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery import describe
from apps.discovery.assignment import centre_fields, write_assignments
from apps.discovery.features import CallVectors, call_vectors, task_keys_ensure, unread
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster, TaskEmbedding
from apps.discovery.stats import task_stats_refresh
from apps.jobs import services as jobs

NUMBA_CACHE = str(settings.VAR_DIR / "numba-cache")
READ_SLICE = 256  # new calls embedded between two progress reports
READ_SHARE = 0.9  # of the reading stage: embedding new texts; the rest loads every call's vector


class Cancelled(Exception):
    pass


class _Reporter:
    """Stage timings and progress on the run row; raises Cancelled when a person asked to stop."""

    # Where each stage starts and ends on the progress bar.
    SPAN = {"reading": (0.0, 0.5), "clustering": (0.5, 0.8), "describing": (0.8, 1.0)}

    def __init__(self, run: DiscoveryRun) -> None:
        self.run = run
        self.timings: dict[str, float] = {}
        self._stage = ""
        self._started = time.monotonic()

    def stage(self, name: str, message: str) -> None:
        self._close()
        self._stage, self._started = name, time.monotonic()
        self.report(0.0, message)

    def _close(self) -> None:
        if self._stage:
            self.timings[self._stage] = round(self.timings.get(self._stage, 0.0) + time.monotonic() - self._started, 2)

    def report(self, fraction: float, message: str) -> None:
        low, high = self.SPAN.get(self._stage, (0.0, 1.0))
        if not jobs.job_progress(
            job=self.run, fraction=low + (high - low) * fraction, stage=self._stage, message=message
        ):
            raise Cancelled

    def done(self) -> dict[str, float]:
        self._close()
        self._stage = ""
        return self.timings


def _scope(run: DiscoveryRun) -> Any:
    calls = Call.objects.filter(project_id=run.project_id, curation_version__gt=0)
    if run.kind == RunKind.SPLIT:
        return calls.filter(task_cluster_id=run.target_id)
    if run.since:
        calls = calls.filter(timestamp__gte=run.since)
    if run.until:
        calls = calls.filter(timestamp__lt=run.until)
    if run.agents:
        calls = calls.filter(agent__in=run.agents)
    return calls


def _read(run: DiscoveryRun, reporter: _Reporter) -> tuple[CallVectors, dict[UUID, UUID | None], list[str]]:
    """Embed the texts of the calls not read before (a slice at a time, so progress moves while the
    model works), then load every call's vector. Also: each call's task before, and its call site."""
    calls = _scope(run)
    missing = list(calls.filter(unread()).order_by("id").values_list("id", flat=True))
    total = calls.count()
    reporter.stage("reading", f"Reading {total:,} calls" + (f", {len(missing):,} of them new" if missing else ""))
    embedded = 0
    for start in range(0, len(missing), READ_SLICE):
        chunk = missing[start : start + READ_SLICE]
        span = f"{start + 1:,}-{start + len(chunk):,} of {len(missing):,}"

        def progress(done: int, texts: int, start: int = start, span: str = span, before: int = embedded) -> bool:
            reporter.report(
                READ_SHARE * start / len(missing),
                f"Embedding the texts of new calls {span}; {before + texts:,} new texts embedded so far",
            )
            return True

        embedded += task_keys_ensure(call_ids=chunk, progress=progress)
        reporter.report(
            READ_SHARE * (start + len(chunk)) / len(missing),
            f"Read {start + len(chunk):,} of {len(missing):,} new calls; {embedded:,} new texts embedded",
        )
    run.texts_embedded = embedded
    reporter.report(READ_SHARE, f"Loading the vectors of {total:,} calls")
    # same input, same run
    rows = list(calls.order_by("id").values_list("id", "task_keys", "task_cluster_id", "call_site"))
    previous = {r[0]: r[2] for r in rows}
    vectors = call_vectors((r[0], r[1]) for r in rows)
    return vectors, previous, [r[3] for r in rows]


def _active_root(cluster_id: UUID | None, clusters: dict[UUID, TaskCluster]) -> UUID | None:
    """Follow merges to the task a call belongs to now; a split task stays itself (its children are
    re-applied later)."""
    seen = set()
    while cluster_id is not None and cluster_id in clusters and cluster_id not in seen:
        seen.add(cluster_id)
        cluster = clusters[cluster_id]
        if cluster.status == ClusterStatus.MERGED and cluster.merged_into_id:
            cluster_id = cluster.merged_into_id
        elif cluster.parent_id and clusters.get(cluster.parent_id) is not None:
            cluster_id = cluster.parent_id  # a split child counts as its parent for matching
        else:
            return cluster_id
    return cluster_id


def _match(
    labels: np.ndarray, ids: list[UUID], previous: dict[UUID, UUID | None], clusters: dict[UUID, TaskCluster]
) -> dict[int, UUID | None]:
    """Which known task each new cluster is: the one most of its calls were in before. A task people
    touched (named, merged, split) takes every cluster that is mostly its calls, so it stays whole;
    an untouched task goes to the largest one. None: a new task."""
    overlap: dict[int, Counter[UUID]] = defaultdict(Counter)
    for call_id, label in zip(ids, labels, strict=True):
        root = _active_root(previous.get(call_id), clusters)
        if label >= 0 and root is not None:
            overlap[int(label)][root] += 1
    sizes = Counter(int(label) for label in labels if label >= 0)
    pairs = sorted(
        ((n, label, root) for label, counter in overlap.items() for root, n in counter.items()),
        key=lambda p: -p[0],
    )
    mapping: dict[int, UUID | None] = {}
    taken: set[UUID] = set()
    for n, label, root in pairs:
        if label in mapping or n < 0.5 * sizes[label]:
            continue
        if root in taken and not clusters[root].edited:
            continue
        mapping[label] = root
        taken.add(root)
    return {label: mapping.get(label) for label in sizes}


def _next_number(project_id: Any) -> int:
    return (TaskCluster.objects.filter(project_id=project_id).aggregate(n=Max("number"))["n"] or 0) + 1


def clusters_describe(*, project_id: Any, cluster_ids: list[UUID]) -> None:
    """Describe tasks from the calls stored in them (after a merge) and store it; the name only where
    people have not named the task."""
    members = {cid: describe.members_from_db(project_id=project_id, cluster_id=cid) for cid in cluster_ids}
    descriptions = describe.clusters_describe_compute(members)
    active = TaskCluster.objects.filter(project_id=project_id, status=ClusterStatus.ACTIVE)
    fixed = set(TaskCluster.objects.filter(id__in=cluster_ids, edited=True).values_list("id", flat=True))
    others = [name for cid, name in active.values_list("id", "name") if cid not in members or cid in fixed]
    describe.names_distinct(descriptions, others=others, fixed=fixed)
    describe.descriptions_write(descriptions)


def _counts_by_cluster(ids: list[UUID], assignment: dict[UUID, UUID | None]) -> Counter[UUID]:
    return Counter(c for i in ids if (c := assignment.get(i)) is not None)


def _members(
    vectors: CallVectors, assigned: list[UUID | None], confidences: list[float | None]
) -> dict[UUID, describe.Members]:
    """Each task's calls as this run assigned them (nothing is written yet)."""
    calls: dict[UUID, list[tuple[UUID, float | None, tuple[str, ...]]]] = defaultdict(list)
    for i, task_id in enumerate(assigned):
        if task_id is not None:
            calls[task_id].append((vectors.ids[i], confidences[i], vectors.rows[int(vectors.index[i])]))
    return {task_id: describe.members_from_calls(found) for task_id, found in calls.items()}


def _describe(
    reporter: _Reporter, members: dict[UUID, describe.Members], *, others: list[str], fixed: set[UUID]
) -> dict[UUID, describe.Description]:
    """`others`: names other tasks keep; `fixed`: tasks people named (their names stay)."""
    reporter.report(0.3, f"Describing {len(members)} tasks")
    descriptions = describe.clusters_describe_compute(members, progress=lambda f, m: reporter.report(0.3 + 0.5 * f, m))
    describe.names_distinct(descriptions, others=others, fixed=fixed)
    return descriptions


@dataclass
class _Joined:
    """One call site's calls given to one cluster: `moved` calls of its cluster `source` (whose answers
    have shape `source_shape`) went to `target` (shape `target_shape`)."""

    call_site: str
    source: int
    target: int
    moved: int
    source_shape: str
    target_shape: str


def _one_task_per_call_site(found: Any, vectors: CallVectors, sites: list[str]) -> list[_Joined]:
    """A call site whose answers differ in shape is one task. Discovery reads the answer's shape, so one
    call site can come out as two clusters, say tool calls and the text replies where the LLM declined to
    call a tool: a split no router can make before the answer exists. Per call site, a cluster holding
    some of its calls with another answer shape (the shape text, whose request part is the call site's)
    than the site's largest cluster gives those calls to the largest; the specialist learns both shapes.
    Clusters of one site with the same answer shape stay apart (tasks told apart by the user turn), and
    so do calls that fit no cluster. Changes `found.labels` and `found.confidence` (per distinct row)."""
    site_calls: dict[int, Counter[str]] = defaultdict(Counter)
    for i, row in enumerate(vectors.index):
        if sites[i]:
            site_calls[int(row)][sites[i]] += 1
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, counter in site_calls.items():
        if found.labels[row] >= 0:
            rows_of[counter.most_common(1)[0][0]].append(row)  # a row shared by two sites goes with most
    joined: list[_Joined] = []
    for site, rows in sorted(rows_of.items()):
        calls: Counter[int] = Counter()
        shapes: dict[int, Counter[str]] = defaultdict(Counter)
        for row in rows:
            label = int(found.labels[row])
            calls[label] += int(vectors.counts[row])
            shapes[label][vectors.rows[row][1]] += int(vectors.counts[row])
        if len(calls) < 2:
            continue
        target = min(calls, key=lambda label: (-calls[label], label))
        target_shape = shapes[target].most_common(1)[0][0]
        for label in sorted(calls):
            shape = shapes[label].most_common(1)[0][0]
            if label == target or shape == target_shape:
                continue
            for row in rows:
                if found.labels[row] == label:
                    found.labels[row] = target
            joined.append(_Joined(site, label, target, calls[label], shape, target_shape))
    for target in sorted({j.target for j in joined}):
        members = found.labels == target
        fields = centre_fields(vectors.x[members], vectors.counts[members].astype(np.float32))
        sims = vectors.x[members] @ np.array(fields["centroid"], dtype=np.float32)
        span = max(fields["spread"] - fields["threshold"], 1e-6)
        found.confidence[members] = np.clip((sims - fields["threshold"]) / span, 0.0, 1.0)
    return joined


def _joined_report(
    joined: list[_Joined], found: Any, vectors: CallVectors, final: dict[int, UUID], names: dict[UUID, str]
) -> list[dict[str, Any]]:
    """What _one_task_per_call_site did, for the run's changes: per call site, the task and the answer shapes."""
    keys = {k for j in joined for k in (j.source_shape, j.target_shape)}
    texts = dict(TaskEmbedding.objects.filter(key__in=keys).values_list("key", "text"))
    report = []
    for j in joined:
        task_id = final.get(j.target)
        report.append(
            {
                "call_site": j.call_site[:12],
                "task": {"id": str(task_id), "name": names.get(task_id, "")} if task_id else None,
                "calls": j.moved,
                "answer_shapes": [texts.get(j.target_shape, ""), texts.get(j.source_shape, "")],
            }
        )
    return report


def _full_run(run: DiscoveryRun, reporter: _Reporter) -> str:
    from workers.jobs.clustering import cluster

    vectors, previous, sites = _read(run, reporter)
    run.calls_total, run.texts_total = len(vectors), len(vectors.rows)
    if len(vectors.rows) < 3:
        raise ValueError(f"Only {len(vectors):,} curated calls in scope: discovery needs more calls")
    reporter.stage("clustering", f"Clustering {len(vectors):,} calls ({len(vectors.rows):,} distinct)")
    found = cluster(
        vectors.x,
        vectors.counts,
        min_cluster_size=run.min_cluster_size,
        progress=lambda f, m: reporter.report(f, m),
        cache_dir=NUMBA_CACHE,
    )
    if len(found.centroids) == 0:
        raise ValueError("No recurring task was found: the calls are too few or too varied for a cluster")
    joined = _one_task_per_call_site(found, vectors, sites)
    reporter.stage("describing", "Matching the clusters to the tasks already known")
    call_labels = found.labels[vectors.index]
    call_conf = found.confidence[vectors.index]
    clusters = {c.id: c for c in TaskCluster.objects.filter(project_id=run.project_id)}
    mapping = _match(call_labels, vectors.ids, previous, clusters)
    # A cluster no known task takes is a new task: its id now, its row in the final transaction.
    final = {label: root or uuid.uuid4() for label, root in mapping.items()}
    new_labels = sorted(label for label, root in mapping.items() if root is None)
    # Each task's centre from all the clusters it took; split tasks keep their children's centres.
    taken: dict[UUID, list[int]] = defaultdict(list)
    for label, task_id in final.items():
        taken[task_id].append(label)
    centres: dict[UUID, dict[str, Any]] = {}
    for task_id, labels in taken.items():
        rows = np.isin(found.labels, labels)
        fields = centre_fields(vectors.x[rows], vectors.counts[rows].astype(np.float32))
        # one centre per cluster the task took (see TaskCluster.centres)
        fields["centres"] = [
            centre_fields(vectors.x[found.labels == label], vectors.counts[found.labels == label].astype(np.float32))
            for label in labels
        ]
        centres[task_id] = fields
    children: dict[UUID, list[TaskCluster]] = defaultdict(list)
    for child in sorted(clusters.values(), key=lambda c: c.number):
        if child.status == ClusterStatus.ACTIVE and child.parent_id is not None:
            children[child.parent_id].append(child)
    # A split task's calls go to the nearest of its parts: once per distinct vector, not per call.
    nearest_part = {
        parent: (vectors.x @ np.array([k.centroid for k in kids], dtype=np.float32).T).argmax(axis=1)
        for parent, kids in children.items()
    }
    assigned: list[UUID | None] = []
    confidences: list[float | None] = []
    for i, label in enumerate(call_labels):
        if label < 0:
            assigned.append(None)
            confidences.append(None)
            continue
        task_id = final[int(label)]
        confidences.append(float(call_conf[i]))
        task = clusters.get(task_id)
        if task is not None and task.status == ClusterStatus.SPLIT and task_id in children:
            assigned.append(children[task_id][int(nearest_part[task_id][vectors.index[i]])].id)
        else:
            assigned.append(task_id)
    after = dict(zip(vectors.ids, assigned, strict=True))
    before_counts = _counts_by_cluster(vectors.ids, previous)
    after_counts = _counts_by_cluster(vectors.ids, after)
    members = _members(vectors, assigned, confidences)
    # A task of the calls out of this run's scope keeps its name; in a run over every call, the tasks
    # that took no cluster are retired, so their names are free.
    scoped = bool(run.since or run.until or run.agents)
    others = [
        c.name
        for c in clusters.values()
        if c.status == ClusterStatus.ACTIVE and (c.edited or scoped) and (c.id not in members or c.edited)
    ]
    fixed = {c.id for c in clusters.values() if c.edited}
    descriptions = _describe(reporter, {t: members[t] for t in sorted(members, key=str)}, others=others, fixed=fixed)
    first_call: dict[int, int] = {}
    for i, row in enumerate(vectors.index):
        first_call.setdefault(int(row), i)
    map_points = []
    for row, xy in zip(found.map_rows, found.map_xy, strict=True):
        j = first_call[int(row)]
        in_task = assigned[j]
        map_points.append(
            [round(float(xy[0]), 3), round(float(xy[1]), 3), str(in_task) if in_task else None, str(vectors.ids[j])]
        )
    reporter.report(0.9, f"Saving {len(after_counts)} tasks and the tasks of {len(vectors):,} calls")
    # The results, in one short transaction with no progress write in it (a Cancel never waits on it).
    now = timezone.now()
    with transaction.atomic():
        number = _next_number(run.project_id)
        for label in new_labels:
            task_id = final[label]
            d = descriptions.get(task_id)
            TaskCluster.objects.create(
                id=task_id,
                project_id=run.project_id,
                number=number,
                name=d.name if d else f"Task {number}",
                first_run=run,
                last_run=run,
                **centres[task_id],
            )
            number += 1
        for task_id, fields in centres.items():
            if task_id in clusters:
                TaskCluster.objects.filter(id=task_id).update(**fields, last_run=run, updated_at=now)
                TaskCluster.objects.filter(id=task_id, status=ClusterStatus.RETIRED).update(status=ClusterStatus.ACTIVE)
        write_assignments(vectors.ids, assigned, confidences, now)
        emptied = (
            TaskCluster.objects.filter(project_id=run.project_id, status=ClusterStatus.ACTIVE)
            .exclude(calls__isnull=False)
            .distinct()
        )
        retired = list(emptied.values_list("id", flat=True))
        TaskCluster.objects.filter(id__in=retired).update(status=ClusterStatus.RETIRED)
        describe.descriptions_write(descriptions)
    task_stats_refresh(project_id=run.project_id)
    tasks = TaskCluster.objects.filter(project_id=run.project_id)
    names = dict(tasks.values_list("id", "name"))
    live = list(tasks.filter(status=ClusterStatus.ACTIVE).values_list("id", flat=True))
    new_ids = {final[label] for label in new_labels}
    run.changes = {
        "new": [{"id": str(i), "name": names[i], "calls": after_counts[i]} for i in sorted(new_ids, key=str)],
        "kept": [
            {"id": str(t), "name": names[t], "before": before_counts.get(t, 0), "after": n}
            for t in live
            if t not in new_ids and (n := after_counts.get(t, 0))
        ],
        "retired": [{"id": str(i), "name": names[i], "before": before_counts.get(i, 0)} for i in retired],
        "moved_calls": sum(1 for i in vectors.ids if previous.get(i) != after[i]),
        "call_sites_joined": _joined_report(joined, found, vectors, final, names),
    }
    run.map_points = map_points
    run.clusters_found = len(live)
    run.unassigned = sum(1 for a in assigned if a is None)
    return (
        f"{run.clusters_found} tasks in {run.calls_total:,} calls; {len(new_ids)} new, "
        f"{run.unassigned:,} calls fit none"
    )


def _split_run(run: DiscoveryRun, reporter: _Reporter) -> str:
    from workers.jobs.clustering import cluster

    target = TaskCluster.objects.get(id=run.target_id)  # type: ignore[misc]
    if target.status != ClusterStatus.ACTIVE:
        raise ValueError(f"{target.code} is no longer an active task ({target.get_status_display().lower()})")
    vectors, _, _ = _read(run, reporter)
    run.calls_total, run.texts_total = len(vectors), len(vectors.rows)
    reporter.stage("clustering", f"Re-clustering the {len(vectors):,} calls of {target.code}")
    mcs = run.min_cluster_size or max(5, round(len(vectors) * 0.05))
    found = cluster(
        vectors.x,
        vectors.counts,
        min_cluster_size=mcs,
        progress=lambda f, m: reporter.report(f, m),
        cache_dir=NUMBA_CACHE,
    )
    k = len(found.centroids)
    if k < 2:
        run.changes = {"split": False}
        return f"{target.code} holds one task: no sub-tasks of at least {mcs} calls were found"
    reporter.stage("describing", f"Splitting {target.code} into {k} tasks")
    # Inside a split every call goes to its nearest part: the parent's calls all stay accounted for.
    sims = vectors.x @ found.centroids.T
    row_label = sims.argmax(axis=1)
    call_labels = row_label[vectors.index]
    kid_ids = [uuid.uuid4() for _ in range(k)]
    assigned: list[UUID | None] = [kid_ids[int(label)] for label in call_labels]
    conf = sims[np.arange(len(row_label)), row_label][vectors.index]
    confidences: list[float | None] = [float(c) for c in conf]
    others = TaskCluster.objects.filter(project_id=run.project_id, status=ClusterStatus.ACTIVE).exclude(id=target.id)
    taken = list(others.values_list("name", flat=True))
    descriptions = _describe(reporter, _members(vectors, assigned, confidences), others=taken, fixed=set())
    reporter.report(0.9, f"Saving {k} tasks and the tasks of {len(vectors):,} calls")
    with transaction.atomic():
        # The target may have been merged or split meanwhile: then nothing is written.
        if not TaskCluster.objects.filter(id=target.id, status=ClusterStatus.ACTIVE).update(
            status=ClusterStatus.SPLIT, edited=True, updated_at=timezone.now()
        ):
            raise ValueError(f"{target.code} changed while it was being split; split it again")
        number = _next_number(run.project_id)
        for label, kid in enumerate(kid_ids):
            rows = row_label == label
            d = descriptions.get(kid)
            TaskCluster.objects.create(
                id=kid,
                project_id=run.project_id,
                number=number + label,
                name=d.name if d else f"{target.name} ({label + 1})",
                edited=True,
                parent=target,
                first_run=run,
                last_run=run,
                **centre_fields(vectors.x[rows], vectors.counts[rows].astype(np.float32)),
            )
        write_assignments(vectors.ids, assigned, confidences, None)
        describe.descriptions_write(descriptions)
    task_stats_refresh(project_id=run.project_id)
    names = dict(TaskCluster.objects.filter(id__in=kid_ids).values_list("id", "name"))
    counts = Counter(int(label) for label in call_labels)
    run.changes = {
        "split": True,
        "parent": {"id": str(target.id), "name": target.name, "before": len(vectors)},
        "new": [{"id": str(kid), "name": names[kid], "calls": counts[i]} for i, kid in enumerate(kid_ids)],
    }
    run.clusters_found = k
    return f"{target.code} split into {k} tasks"


def _result_fields(run: DiscoveryRun) -> dict[str, Any]:
    return {
        "calls_total": run.calls_total,
        "texts_total": run.texts_total,
        "texts_embedded": run.texts_embedded,
        "clusters_found": run.clusters_found,
        "unassigned": run.unassigned,
        "changes": run.changes,
        "map_points": run.map_points,
    }


def discovery_run_execute(*, run_id: UUID | str) -> None:
    """Claim the run and execute it. Every write to the run row goes through apps.jobs.services (fenced by
    the attempt claimed: a worker that lost the run stops at its next report) and none happens inside a
    transaction."""
    run = jobs.job_claim(model=DiscoveryRun, job_id=run_id)
    if run is None:
        return
    assert isinstance(run, DiscoveryRun)
    reporter = _Reporter(run)
    try:
        # Beats between two reports too: loading the model, HDBSCAN or the map can each take a while.
        with jobs.job_heartbeats(job=run):
            message = _split_run(run, reporter) if run.kind == RunKind.SPLIT else _full_run(run, reporter)
    except Cancelled:
        jobs.job_cancelled(job=run)
        return
    except ValueError as exc:  # not enough or unsuitable data: a message a person can act on
        jobs.job_progress(job=run, fraction=run.progress, timings=reporter.done())
        jobs.job_fail(job=run, error=str(exc))
        return
    except Exception as exc:
        jobs.job_progress(job=run, fraction=run.progress, timings=reporter.done())
        jobs.job_fail(job=run, error=f"Discovery stopped: {exc}")
        raise
    # The results are stored: a Cancel asked for now comes too late to undo them, so the run succeeds.
    jobs.job_progress(job=run, fraction=1.0, timings=reporter.done(), **_result_fields(run))
    jobs.job_succeed(job=run, message=message)
