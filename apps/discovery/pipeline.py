"""A discovery run, start to end: pick the calls, read and embed their task texts (cached), cluster,
match the clusters to the tasks people already know, describe them, and record every call's task.

Also incremental assignment: new calls go to the nearest current task between runs.
"""

import time
from collections import Counter, defaultdict
from typing import Any
from uuid import UUID

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery import describe
from apps.discovery.assignment import centre_fields, write_assignments
from apps.discovery.features import READ_BATCH, CallVectors, call_vectors, task_keys_ensure
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster, TaskEmbedding
from apps.discovery.texts import output_summary
from apps.jobs import services as jobs

REPRESENTATIVES = 5
DESCRIBE_SAMPLE = 400


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


def _read(run: DiscoveryRun, reporter: _Reporter) -> tuple[CallVectors, dict[UUID, UUID | None]]:
    calls = _scope(run)
    missing = list(calls.filter(task_keys=None).values_list("id", flat=True))
    total = calls.count()
    reporter.stage("reading", f"Reading {total:,} calls")

    def progress(done: int, embedded: int) -> bool:
        """`done`: calls finished before the chunk being embedded now."""
        upto = min(len(missing), done + READ_BATCH)
        reporter.report(
            done / max(1, len(missing)),
            f"Reading new calls {done + 1:,}-{upto:,} of {len(missing):,}; {embedded:,} new texts embedded so far",
        )
        return True

    run.texts_embedded = task_keys_ensure(call_ids=missing, progress=progress) if missing else 0
    rows = list(calls.order_by("id").values_list("id", "task_keys", "task_cluster_id"))  # same input, same run
    previous = {r[0]: r[2] for r in rows}
    vectors = call_vectors((r[0], r[1]) for r in rows)
    return vectors, previous


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
    """Keywords, output kind, labels, representatives and (unless people named it) the name."""
    documents: dict[str, list[str]] = {}
    summaries = {}
    representatives: dict[UUID, list[str]] = {}
    for cluster_id in cluster_ids:
        members = Call.objects.filter(project_id=project_id, task_cluster_id=cluster_id)
        top = list(
            members.order_by("-cluster_confidence", "id").values_list("id", "task_keys", "response")[:DESCRIBE_SAMPLE]
        )
        seen_users: set[str] = set()
        reps: list[str] = []
        for call_id, keys, _ in top:
            user = (keys or ["", "", ""])[2]
            if user not in seen_users and len(reps) < REPRESENTATIVES:
                seen_users.add(user)
                reps.append(str(call_id))
        representatives[cluster_id] = reps
        sample = list(members.order_by("?").values_list("task_keys", "response")[:DESCRIBE_SAMPLE])
        summaries[cluster_id] = output_summary([r for _, r in sample])
        user_keys = {(k or ["", "", ""])[2] for k, _ in sample}
        system_keys = {(k or ["", "", ""])[0] for k, _ in sample}
        texts = dict(TaskEmbedding.objects.filter(key__in=user_keys | system_keys).values_list("key", "text"))
        users = [texts.get((k or ["", "", ""])[2], "") for k, _ in sample]
        documents[str(cluster_id)] = users + [texts.get(k, "")[:300] for k in system_keys]
    words = describe.keywords(documents)
    for cluster in TaskCluster.objects.filter(id__in=cluster_ids):
        summary = summaries[cluster.id]
        cluster.keywords = words.get(str(cluster.id), [])
        cluster.output_kind = summary.kind
        cluster.labels = summary.labels
        cluster.json_keys = summary.json_keys
        cluster.representatives = representatives[cluster.id]
        if not cluster.edited:
            cluster.name = describe.generated_name(cluster.keywords, summary.kind)
        cluster.save(
            update_fields=[
                "keywords", "output_kind", "labels", "json_keys", "representatives", "name", "updated_at",
            ]
        )  # fmt: skip


def _counts_by_cluster(ids: list[UUID], assignment: dict[UUID, UUID | None]) -> Counter[UUID]:
    return Counter(c for i in ids if (c := assignment.get(i)) is not None)


def _full_run(run: DiscoveryRun, reporter: _Reporter) -> str:
    from workers.jobs.clustering import cluster

    vectors, previous = _read(run, reporter)
    run.calls_total, run.texts_total = len(vectors), len(vectors.rows)
    if len(vectors.rows) < 3:
        raise ValueError(f"Only {len(vectors):,} curated calls in scope: discovery needs more calls")
    reporter.stage("clustering", f"Clustering {len(vectors):,} calls ({len(vectors.rows):,} distinct)")
    found = cluster(
        vectors.x,
        vectors.counts,
        min_cluster_size=run.min_cluster_size,
        progress=lambda f, m: reporter.report(f, m),
    )
    if len(found.centroids) == 0:
        raise ValueError("No recurring task was found: the calls are too few or too varied for a cluster")
    reporter.stage("describing", "Matching the clusters to the tasks already known")
    call_labels = found.labels[vectors.index]
    call_conf = found.confidence[vectors.index]
    clusters = {c.id: c for c in TaskCluster.objects.filter(project_id=run.project_id)}
    mapping = _match(call_labels, vectors.ids, previous, clusters)
    now = timezone.now()
    with transaction.atomic():
        number = _next_number(run.project_id)
        final: dict[int, TaskCluster] = {}
        for label in sorted(mapping):
            root = mapping[label]
            if root is None:
                final[label] = TaskCluster.objects.create(
                    project_id=run.project_id, number=number, name=f"Task {number}", first_run=run
                )
                number += 1
            else:
                final[label] = clusters[root]
        # Each task's centre from all the clusters it took; split tasks keep their children's centres.
        members: dict[UUID, list[int]] = defaultdict(list)
        for label, task in final.items():
            members[task.id].append(label)
        for labels in members.values():
            task = final[labels[0]]
            rows = np.isin(found.labels, labels)
            fields = centre_fields(vectors.x[rows], vectors.counts[rows].astype(np.float32))
            task.centres = []
            for label in labels:  # one centre per cluster the task took (see TaskCluster.centres)
                own = found.labels == label
                task.centres.append(centre_fields(vectors.x[own], vectors.counts[own].astype(np.float32)))
            if task.status in (ClusterStatus.RETIRED, ClusterStatus.ACTIVE):
                task.status = ClusterStatus.ACTIVE
            for name, value in fields.items():
                setattr(task, name, value)
            task.last_run = run
            task.save()
        children: dict[UUID, list[TaskCluster]] = defaultdict(list)
        for child in TaskCluster.objects.filter(project_id=run.project_id, status=ClusterStatus.ACTIVE).exclude(
            parent=None
        ):
            children[child.parent_id].append(child)  # type: ignore[index]
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
            task = final[int(label)]
            confidences.append(float(call_conf[i]))
            if task.status == ClusterStatus.SPLIT and task.id in children:
                assigned.append(children[task.id][int(nearest_part[task.id][vectors.index[i]])].id)
            else:
                assigned.append(task.id)
        write_assignments(vectors.ids, assigned, confidences, now)
        after = dict(zip(vectors.ids, assigned, strict=True))
        before_counts = _counts_by_cluster(vectors.ids, previous)
        after_counts = _counts_by_cluster(vectors.ids, after)
        emptied = (
            TaskCluster.objects.filter(project_id=run.project_id, status=ClusterStatus.ACTIVE)
            .exclude(calls__isnull=False)
            .distinct()
        )
        retired = list(emptied.values_list("id", flat=True))
        TaskCluster.objects.filter(id__in=retired).update(status=ClusterStatus.RETIRED)
        moved = sum(1 for i in vectors.ids if previous.get(i) != after[i])
        live = list(TaskCluster.objects.filter(project_id=run.project_id, status=ClusterStatus.ACTIVE))
        new_ids = {t.id for t in final.values() if t.first_run_id == run.id}
        reporter.report(0.3, f"Describing {len(live)} tasks")
        clusters_describe(project_id=run.project_id, cluster_ids=[t.id for t in live if after_counts.get(t.id)])
        names = dict(TaskCluster.objects.filter(project_id=run.project_id).values_list("id", "name"))
        run.changes = {
            "new": [{"id": str(i), "name": names[i], "calls": after_counts[i]} for i in new_ids],
            "kept": [
                {"id": str(t.id), "name": names[t.id], "before": before_counts.get(t.id, 0), "after": n}
                for t in live
                if t.id not in new_ids and (n := after_counts.get(t.id, 0))
            ],
            "retired": [{"id": str(i), "name": names[i], "before": before_counts.get(i, 0)} for i in retired],
            "moved_calls": moved,
        }
        first_call: dict[int, int] = {}
        for i, row in enumerate(vectors.index):
            first_call.setdefault(int(row), i)
        run.map_points = []
        for row, xy in zip(found.map_rows, found.map_xy, strict=True):
            j = first_call[int(row)]
            in_task = assigned[j]
            run.map_points.append(
                [round(float(xy[0]), 3), round(float(xy[1]), 3), str(in_task) if in_task else None, str(vectors.ids[j])]
            )
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
    vectors, _ = _read(run, reporter)
    run.calls_total, run.texts_total = len(vectors), len(vectors.rows)
    reporter.stage("clustering", f"Re-clustering the {len(vectors):,} calls of {target.code}")
    mcs = run.min_cluster_size or max(5, round(len(vectors) * 0.05))
    found = cluster(vectors.x, vectors.counts, min_cluster_size=mcs, progress=lambda f, m: reporter.report(f, m))
    k = len(found.centroids)
    if k < 2:
        run.changes = {"split": False}
        return f"{target.code} holds one task: no sub-tasks of at least {mcs} calls were found"
    reporter.stage("describing", f"Splitting {target.code} into {k} tasks")
    # Inside a split every call goes to its nearest part: the parent's calls all stay accounted for.
    sims = vectors.x @ found.centroids.T
    row_label = sims.argmax(axis=1)
    call_labels = row_label[vectors.index]
    with transaction.atomic():
        number = _next_number(run.project_id)
        kids = []
        for label in range(k):
            rows = row_label == label
            kids.append(
                TaskCluster.objects.create(
                    project_id=run.project_id,
                    number=number + label,
                    name=f"{target.name} ({label + 1})",
                    edited=True,
                    parent=target,
                    first_run=run,
                    last_run=run,
                    **centre_fields(vectors.x[rows], vectors.counts[rows].astype(np.float32)),
                )
            )
        conf = sims[np.arange(len(row_label)), row_label][vectors.index]
        write_assignments(vectors.ids, [kids[int(label)].id for label in call_labels], [float(c) for c in conf], None)
        target.status = ClusterStatus.SPLIT
        target.edited = True
        target.save(update_fields=["status", "edited", "updated_at"])
        clusters_describe(project_id=run.project_id, cluster_ids=[kid.id for kid in kids])
        for kid in kids:
            kid.refresh_from_db()
            kid.name = f"{target.name}: {' / '.join(kid.keywords[:2])}" if kid.keywords else kid.name
            kid.save(update_fields=["name"])
        counts = Counter(int(label) for label in call_labels)
        run.changes = {
            "split": True,
            "parent": {"id": str(target.id), "name": target.name, "before": len(vectors)},
            "new": [{"id": str(kid.id), "name": kid.name, "calls": counts[i]} for i, kid in enumerate(kids)],
        }
        run.clusters_found = k
    return f"{target.code} split into {k} tasks"


def discovery_run_execute(*, run_id: UUID | str) -> None:
    run = jobs.job_claim(model=DiscoveryRun, job_id=run_id)
    if run is None:
        return
    assert isinstance(run, DiscoveryRun)
    reporter = _Reporter(run)
    try:
        message = _split_run(run, reporter) if run.kind == RunKind.SPLIT else _full_run(run, reporter)
    except Cancelled:
        jobs.job_cancelled(job=run)
        return
    except ValueError as exc:  # not enough or unsuitable data: a message a person can act on
        DiscoveryRun.objects.filter(id=run.id).update(timings=reporter.done())
        jobs.job_fail(job=run, error=str(exc))
        return
    except Exception as exc:
        DiscoveryRun.objects.filter(id=run.id).update(timings=reporter.done())
        jobs.job_fail(job=run, error=f"Discovery stopped: {exc}")
        raise
    DiscoveryRun.objects.filter(id=run.id).update(
        calls_total=run.calls_total,
        texts_total=run.texts_total,
        texts_embedded=run.texts_embedded,
        clusters_found=run.clusters_found,
        unassigned=run.unassigned,
        timings=reporter.done(),
        changes=run.changes,
        map_points=run.map_points,
    )
    jobs.job_succeed(job=run, message=message)
