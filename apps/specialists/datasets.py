"""Building a training dataset from a task's trainable calls.

Calls are grouped (a trace, else a conversation: its system prompt and first user message) and whole
groups go to train, validation or test by a hash of the group key and the seed, so one conversation
never sits on both sides. The first dataset of a task freezes its test split: later datasets reuse
those very calls (same hash), and new calls only ever go to train or validation."""

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from apps.calls.models import Call, CallStatus
from apps.common.errors import DomainError, NotFound
from apps.discovery.models import TaskCluster
from apps.discovery.texts import OutputKind, answer_text, content_text
from apps.specialists.models import CatalogModel, DatasetExample, SpecialistKind, Split, TrainingDataset

SPLITS = (Split.TRAIN, Split.VAL, Split.TEST)
MAX_HELD_OUT = 0.5  # validation + test may take at most half the groups


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


def test_split_hash(calls: Iterable[Call]) -> str:
    """sha256 over the sorted (call id, sha256 of its request and response) of the test calls."""
    digest = hashlib.sha256()
    for call_id, content in sorted((str(c.id), call_hash(c)) for c in calls):
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
    model's chat template. Classifier: the last user turn and the answer as its label."""
    if kind == SpecialistKind.CLASSIFIER:
        return {"text": _last_user_text(call), "label": answer_text(call.response)}
    request = call.request or {}
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    return {"messages": [*messages, _assistant_turn(call.response or {})], "tools": request.get("tools") or []}


def _validate(
    *, cluster: TaskCluster, base_model: CatalogModel | None, kind: str, val_fraction: float, test_fraction: float
) -> None:
    if kind not in SpecialistKind.values:
        raise DomainError(f"Unknown kind {kind!r}: use lora or classifier.", field="kind", status=422, code="invalid")
    if kind == SpecialistKind.LORA and base_model is None:
        raise DomainError("Choose a base model for a LoRA specialist.", field="base_model", status=422, code="invalid")
    if kind == SpecialistKind.CLASSIFIER:
        if base_model is not None:
            raise DomainError(
                "A classifier has no base model; leave it empty.", field="base_model", status=422, code="invalid"
            )
        if cluster.output_kind != OutputKind.LABEL:
            raise DomainError(
                "A classifier needs a task whose answers are labels from a closed set.",
                field="kind",
                status=422,
                code="invalid",
            )
    if base_model is not None and not base_model.enabled:
        raise DomainError(f"{base_model.name} is disabled in the catalog.", field="base_model", status=422)
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise DomainError(f"{name} must be at least 0 and below 1.", field=name, status=422, code="invalid")
    if val_fraction + test_fraction > MAX_HELD_OUT:
        raise DomainError(
            "Validation and test together may take at most half of the calls.",
            field="test_fraction",
            status=422,
            code="invalid",
        )


def _frozen_test(cluster: TaskCluster) -> tuple[TrainingDataset | None, set[Any]]:
    """The task's earliest dataset with a test split, and its test call ids."""
    first = TrainingDataset.objects.filter(cluster=cluster, test_count__gt=0).order_by("created_at").first()
    if first is None:
        return None, set()
    ids = set(first.examples.filter(split=Split.TEST).values_list("call_id", flat=True))
    return first, ids


def _write_jsonl(folder: Path, by_split: dict[str, list[Call]], kind: str) -> None:
    """Write the three files to a temporary folder, then move it into place (a re-build replaces it)."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for split, calls in by_split.items():
        with (tmp / f"{split}.jsonl").open("wb") as out:
            for call in calls:
                out.write(_canonical(example_line(call, kind)) + b"\n")
            out.flush()
            os.fsync(out.fileno())
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def dataset_folder(dataset: TrainingDataset) -> Path:
    return Path(settings.ARTIFACT_ROOT) / "datasets" / str(dataset.id)


@transaction.atomic
def dataset_build(
    *,
    cluster: TaskCluster,
    base_model: CatalogModel | None,
    kind: str = SpecialistKind.LORA,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 13,
    created_by: User | None = None,
) -> TrainingDataset:
    _validate(cluster=cluster, base_model=base_model, kind=kind, val_fraction=val_fraction, test_fraction=test_fraction)
    in_task = Call.objects.filter(project=cluster.project, task_cluster=cluster)
    calls = list(
        in_task.filter(trainable=True, status=CallStatus.OK, response__isnull=False).order_by("timestamp", "id")
    )
    if kind == SpecialistKind.CLASSIFIER:
        calls = [c for c in calls if answer_text(c.response) and _last_user_text(c)]
    if not calls:
        raise DomainError(
            "This task has no trainable calls with an answer: nothing to train on. Check the curation "
            "report for why its calls were excluded.",
            code="no_data",
            status=400,
        )
    warnings: list[str] = []
    left_out = in_task.count() - len(calls)
    if left_out:
        warnings.append(
            f"{left_out:,} of the task's calls were left out: not trainable (curation), failed, or without an answer."
        )

    first, frozen_ids = _frozen_test(cluster)
    keys = {c.id: group_key(c) for c in calls}
    split_of: dict[Any, str] = {}
    if first is None:
        for call in calls:
            u = _unit(seed, keys[call.id])
            split_of[call.id] = (
                Split.TEST if u < test_fraction else Split.VAL if u < test_fraction + val_fraction else Split.TRAIN
            )
        test_calls = [c for c in calls if split_of[c.id] == Split.TEST]
    else:
        test_calls = list(Call.objects.filter(id__in=frozen_ids).order_by("timestamp", "id"))
        frozen_groups = {group_key(c) for c in test_calls}
        held_back = 0
        for call in calls:
            if call.id in frozen_ids:
                continue
            if keys[call.id] in frozen_groups:
                held_back += 1  # its conversation is in the frozen test split: training on it would leak
                continue
            u = _unit(seed, keys[call.id])
            split_of[call.id] = Split.VAL if test_fraction <= u < test_fraction + val_fraction else Split.TRAIN
        if held_back:
            warnings.append(
                f"{held_back:,} new call{'s' if held_back != 1 else ''} belong to conversations in the frozen test "
                "split and were left out of training."
            )
        for call in test_calls:
            split_of[call.id] = Split.TEST
        if len(test_calls) < len(frozen_ids):
            warnings.append("Some calls of the frozen test split no longer exist: the test hash differs.")

    by_split: dict[str, list[Call]] = {s: [] for s in SPLITS}
    for call in {c.id: c for c in [*calls, *test_calls]}.values():
        if call.id in split_of:
            by_split[split_of[call.id]].append(call)
    for rows in by_split.values():
        rows.sort(key=lambda c: (c.timestamp, str(c.id)))
    counts = Counter({s: len(by_split[s]) for s in SPLITS})
    if not counts[Split.TRAIN]:
        raise DomainError(
            "No calls are left for training once validation and test are set aside; lower the fractions "
            "or log more calls of this task.",
            code="no_data",
            status=400,
        )
    if counts[Split.TRAIN] < settings.DATASET_MIN_EXAMPLES:
        warnings.append(
            f"Only {counts[Split.TRAIN]:,} training examples: at least {settings.DATASET_MIN_EXAMPLES:,} are "
            "recommended (10k-100k work best). You can train, but the specialist may be weak."
        )
    if not counts[Split.TEST]:
        warnings.append("The test split is empty (too few conversations): evaluation will have nothing to score.")
    if not counts[Split.VAL] and val_fraction > 0:
        warnings.append("The validation split is empty (too few conversations).")

    test_hash = test_split_hash(by_split[Split.TEST]) if by_split[Split.TEST] else ""
    if first is not None and test_hash and first.test_hash and test_hash != first.test_hash:
        warnings.append("The frozen test calls changed since the first dataset (re-curated or deleted).")
    dataset = TrainingDataset(
        project=cluster.project,
        cluster=cluster,
        kind=kind,
        base_model=base_model,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        train_count=counts[Split.TRAIN],
        val_count=counts[Split.VAL],
        test_count=counts[Split.TEST],
        test_hash=test_hash,
        warnings=warnings,
        created_by=created_by,
    )
    folder = dataset_folder(dataset)
    dataset.path = str(folder)
    dataset.save()
    DatasetExample.objects.bulk_create(
        DatasetExample(dataset=dataset, call=call, split=split, group_key=keys.get(call.id) or group_key(call))
        for split in SPLITS
        for call in by_split[split]
    )
    _write_jsonl(folder, by_split, kind)
    return dataset


def dataset_export(*, dataset: TrainingDataset, split: str) -> Path:
    """The JSONL file of one split, for a download."""
    if split not in Split.values:
        raise NotFound(f"No split {split!r}: use train, val or test.")
    path = Path(dataset.path) / f"{split}.jsonl"
    if not path.is_file():
        raise NotFound("The dataset's files are missing on this machine; build the dataset again.")
    return path
