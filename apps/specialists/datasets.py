"""Building a training dataset from a task's trainable calls: the job behind a TrainingDataset row
(apps/specialists/tasks.py runs dataset_build_run on the cpu queue).

Calls are grouped (a trace, else a conversation: its system prompt and first user message) and whole
groups go to train, validation or test by a hash of the group key and the seed, so one conversation
never sits on both sides. The first dataset of a task freezes its test split: later datasets reuse
those very calls (same hash), and new calls only ever go to train or validation.

Streamed, so any number of calls fits: calls are read in keyset pages of PAGE, each line appended to
its split's file as it comes, the examples stored a page at a time through fenced writes, progress
after every page. The files go to a folder of this attempt and are moved to the dataset's own folder
(ARTIFACT_ROOT/datasets/<dataset id>) at the end: a re-delivered or requeued build redoes the same work
and lands in the same place."""

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.calls.models import Call
from apps.common.messages import content_text
from apps.discovery.texts import answer_text
from apps.jobs import services as jobs
from apps.specialists import selectors, services
from apps.specialists.models import DatasetExample, SpecialistKind, Split, TrainingDataset

SPLITS = (Split.TRAIN, Split.VAL, Split.TEST)
PAGE = 200  # calls per read (their request and response JSON are in memory together)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def group_key(call: Call) -> str:
    """The trace when the call has one; else its conversation: system prompt and first user message."""
    if call.trace_id:
        return hashlib.sha256(f"trace\0{call.trace_id}".encode()).hexdigest()
    messages = [m for m in (call.request or {}).get("messages") or [] if isinstance(m, dict)]
    system = "\n".join(content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    first_user = next((content_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    return hashlib.sha256(f"conversation\0{system}\0{first_user}".encode()).hexdigest()


def _unit(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by the seed and the group key."""
    return int(hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()[:16], 16) / 2**64


def call_hash(call: Call) -> str:
    return hashlib.sha256(_canonical({"request": call.request, "response": call.response})).hexdigest()


def test_split_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over the sorted (call id, sha256 of its request and response) of the test calls."""
    digest = hashlib.sha256()
    for call_id, content in sorted(pairs):
        digest.update(f"{call_id}\0{content}\n".encode())
    return digest.hexdigest()


def _last_user_text(call: Call) -> str:
    messages = [m for m in (call.request or {}).get("messages") or [] if isinstance(m, dict)]
    users = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    return users[-1].strip() if users else ""


def _assistant_turn(response: dict[str, Any]) -> dict[str, Any]:
    turn: dict[str, Any] = {"role": "assistant", "content": response.get("content")}
    if response.get("tool_calls"):
        turn["tool_calls"] = response["tool_calls"]
    return turn


def example_line(call: Call, kind: str) -> dict[str, Any]:
    """One JSONL line. LoRA: OpenAI chat format (the request's messages, the answer as the last
    assistant turn, tool calls kept, and the tools offered), rendered by the training job with the base
    model's chat template, with the request's response_format when it has one. Classifier: the last user turn
    and the answer as its label."""
    if kind == SpecialistKind.CLASSIFIER:
        return {"text": _last_user_text(call), "label": answer_text(call.response)}
    request = call.request or {}
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    line = {"messages": [*messages, _assistant_turn(call.response or {})], "tools": request.get("tools") or []}
    if request.get("response_format"):
        line["response_format"] = request["response_format"]
    return line


def dataset_folder(dataset_id: UUID | str) -> Path:
    return Path(settings.ARTIFACT_ROOT) / "datasets" / str(dataset_id)


def _pages(calls: QuerySet[Call]) -> Iterator[list[Call]]:
    """The calls in (timestamp, id) order, PAGE at a time, each page after the last one's key."""
    ordered = calls.only("id", "timestamp", "trace_id", "request", "response").order_by("timestamp", "id")
    page = list(ordered[:PAGE])
    while page:
        yield page
        last = page[-1]
        after = Q(timestamp__gt=last.timestamp) | Q(timestamp=last.timestamp, id__gt=last.id)
        page = list(ordered.filter(after)[:PAGE])


class BuildError(Exception):
    """Nothing (or nothing left) to train on: the build fails with this message."""


class _Stopped(Exception):
    """Cancellation was asked for, or a newer attempt took the build over: stop writing."""


class _Build:
    """One attempt: its files in a folder of its own, its examples stored a page at a time."""

    def __init__(self, dataset: TrainingDataset, total: int) -> None:
        self.dataset = dataset
        self.kind = dataset.kind
        self.folder = dataset_folder(dataset.id)
        for old in self.folder.parent.glob(f"{self.folder.name}.attempt-*"):
            shutil.rmtree(old, ignore_errors=True)  # a killed attempt's leftovers
        self.tmp = self.folder.with_name(f"{self.folder.name}.attempt-{dataset.attempt}")
        self.tmp.mkdir(parents=True)
        self.files: dict[str, IO[bytes]] = {s: (self.tmp / f"{s}.jsonl").open("wb") for s in SPLITS}
        self.counts: Counter[str] = Counter({s: 0 for s in SPLITS})
        self.test_pairs: list[tuple[str, str]] = []
        self.pending: list[DatasetExample] = []
        self.total = total
        self.done = 0

    def add(self, call: Call, split: str, key: str) -> None:
        self.files[split].write(_canonical(example_line(call, self.kind)) + b"\n")
        self.counts[split] += 1
        self.pending.append(DatasetExample(dataset_id=self.dataset.id, call_id=call.id, split=split, group_key=key))
        if split == Split.TEST:
            self.test_pairs.append((str(call.id), call_hash(call)))

    def page_done(self, read: int) -> None:
        """Store the page's examples and report progress; stop when either is refused."""
        if self.pending and not services.dataset_examples_add(dataset=self.dataset, examples=self.pending):
            raise _Stopped
        self.pending = []
        self.done += read
        self.report(
            0.02 + 0.95 * self.done / max(1, self.total), "reading", f"Read {self.done:,} of {self.total:,} calls"
        )

    def report(self, fraction: float, stage: str, message: str) -> None:
        fields = {"calls_done": self.done, "calls_total": self.total}
        if not jobs.job_progress(job=self.dataset, fraction=fraction, stage=stage, message=message, **fields):
            raise _Stopped

    def _close(self) -> None:
        for out in self.files.values():
            if not out.closed:
                out.flush()
                os.fsync(out.fileno())
                out.close()

    def move_into_place(self) -> Path:
        self._close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.tmp.rename(self.folder)
        return self.folder

    def discard(self) -> None:
        self._close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _split_calls(build: _Build, dataset: TrainingDataset, source: TrainingDataset | None) -> tuple[int, int]:
    """Write every call to its split. Returns (calls usable for training, calls held back because their
    conversation is in the frozen test split)."""
    test_fraction, val_fraction, seed = dataset.test_fraction, dataset.val_fraction, dataset.seed
    frozen_ids: set[Any] = set()
    frozen_groups: set[str] = set()
    if source is not None:
        for page in _pages(selectors.frozen_test_calls(source=source)):
            for call in page:
                key = group_key(call)
                frozen_ids.add(call.id)
                frozen_groups.add(key)
                build.add(call, Split.TEST, key)
            build.page_done(len(page))
    usable = held_back = 0
    for page in _pages(selectors.dataset_calls(cluster=dataset.cluster)):
        for call in page:
            if dataset.kind == SpecialistKind.CLASSIFIER and not (answer_text(call.response) and _last_user_text(call)):
                continue
            usable += 1
            if call.id in frozen_ids:
                continue
            key = group_key(call)
            u = _unit(seed, key)
            if source is None:
                split = (
                    Split.TEST if u < test_fraction else Split.VAL if u < test_fraction + val_fraction else Split.TRAIN
                )
            elif key in frozen_groups:
                held_back += 1  # its conversation is in the frozen test split: training on it would leak
                continue
            else:
                split = Split.VAL if test_fraction <= u < test_fraction + val_fraction else Split.TRAIN
            build.add(call, split, key)
        build.page_done(len(page))
    return usable, held_back


def _warnings(
    build: _Build, dataset: TrainingDataset, source: TrainingDataset | None, in_task: int, usable: int, held_back: int
) -> list[str]:
    counts = build.counts
    warnings: list[str] = []
    if in_task - usable:
        warnings.append(
            f"{in_task - usable:,} of the task's calls were left out: not trainable (curation), failed, or without "
            "an answer."
        )
    if held_back:
        warnings.append(
            f"{held_back:,} new call{'s' if held_back != 1 else ''} belong to conversations in the frozen test "
            "split and were left out of training."
        )
    if source is not None and counts[Split.TEST] < source.test_count:
        warnings.append("Some calls of the frozen test split no longer exist: the test hash differs.")
    if counts[Split.TRAIN] < settings.DATASET_MIN_EXAMPLES:
        warnings.append(
            f"Only {counts[Split.TRAIN]:,} training examples: at least {settings.DATASET_MIN_EXAMPLES:,} are "
            "recommended (10k-100k work best). You can train, but the specialist may be weak."
        )
    if not counts[Split.TEST]:
        warnings.append("The test split is empty (too few conversations): evaluation will have nothing to score.")
    if not counts[Split.VAL] and dataset.val_fraction > 0:
        warnings.append("The validation split is empty (too few conversations).")
    return warnings


def _build(dataset: TrainingDataset) -> None:
    if not services.dataset_examples_clear(dataset=dataset):
        raise _Stopped
    cluster = dataset.cluster
    source = selectors.frozen_test_source(dataset=dataset)
    total = selectors.dataset_calls(cluster=cluster).count()
    if source is not None:
        total += selectors.frozen_test_calls(source=source).count()
    build = _Build(dataset, total)
    try:
        build.report(0.01, "reading", f"Reading {total:,} calls")
        usable, held_back = _split_calls(build, dataset, source)
        if not usable:
            raise BuildError(services.NOTHING_TO_TRAIN_ON)
        if not build.counts[Split.TRAIN]:
            raise BuildError(
                "No calls are left for training once validation and test are set aside; lower the fractions or "
                "log more calls of this task."
            )
        warnings = _warnings(build, dataset, source, selectors.task_calls(cluster=cluster).count(), usable, held_back)
        test_hash = test_split_hash(build.test_pairs) if build.counts[Split.TEST] else ""
        if source is not None and test_hash and source.test_hash and test_hash != source.test_hash:
            warnings.append("The frozen test calls changed since the first dataset (re-curated or deleted).")
        build.report(0.98, "writing", "Moving the files into place")
        folder = build.move_into_place()
    except BaseException:
        build.discard()
        raise
    services.dataset_build_succeed(
        dataset=dataset,
        folder=folder,
        counts=dict(build.counts),
        test_hash=test_hash,
        warnings=warnings,
        calls_done=build.done,
        calls_total=total,
    )


def dataset_build_run(*, dataset_id: UUID | str) -> None:
    """The job: claim the dataset's row, split its task's calls into the three files, record the result.
    Nothing to train on fails it with the reason; a cancelled build ends cancelled; a build another
    attempt took over stops without a word (its writes are refused)."""
    claimed = jobs.job_claim(model=TrainingDataset, job_id=dataset_id)
    if claimed is None:
        return
    assert isinstance(claimed, TrainingDataset)
    try:
        with jobs.job_heartbeats(job=claimed):
            _build(claimed)
    except _Stopped:
        jobs.job_cancelled(job=claimed)  # refused, as it should be, when another attempt holds the build
    except BuildError as exc:
        jobs.job_fail(job=claimed, error=str(exc))
    except Exception as exc:
        jobs.job_fail(job=claimed, error=f"The build stopped: {exc}")
        raise
