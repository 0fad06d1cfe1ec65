import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from apps.calls.models import Call
from apps.common.errors import DomainError, NotFound
from apps.projects.models import Project
from apps.specialists import services
from apps.specialists.models import CatalogModel, DatasetExample, TrainingDataset
from apps.specialists.selectors import dataset_file
from tests.conftest import make_call
from tests.specialists.selection_helpers import build, cluster_for, conversation, discover, make_task, stored

pytestmark = pytest.mark.django_db
TOOLS = [{"type": "function", "function": {"name": "refund", "parameters": {"type": "object"}}}]


@pytest.fixture
def qwen() -> CatalogModel:
    return CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def splits(dataset: TrainingDataset) -> dict[str, set[Any]]:
    found: dict[str, set[Any]] = defaultdict(set)
    for call_id, split in dataset.examples.values_list("call_id", "split"):
        found[split].add(call_id)
    return found


def traced(project: Project, traces: int, per_trace: int, prefix: str = "t") -> list[Call]:
    records = []
    for t in range(traces):
        records += conversation(f"{prefix}{t}", per_trace, trace_id=f"trace-{prefix}-{t}")
    return stored(project, records)


def test_writes_the_splits_as_chat_jsonl_with_tools_and_tool_calls_kept(
    project: Project, qwen: CatalogModel, settings: Any
) -> None:
    tool_call = {"id": "c1", "type": "function", "function": {"name": "refund", "arguments": '{"order": 7}'}}
    records = [
        make_call(
            id=f"tool-{i}",
            request={
                "model": "gpt-4o",
                "tools": TOOLS,
                "messages": [{"role": "system", "content": "Act."}, {"role": "user", "content": f"Refund {i}"}],
            },
            response={"role": "assistant", "content": None, "tool_calls": [tool_call], "refusal": None},
        )
        for i in range(40)
    ]
    task = make_task(project, calls=stored(project, records), output_kind="tool_calls", labels=[])

    dataset = build(cluster=task, base_model=qwen, kind="lora", seed=1)

    assert dataset.train_count + dataset.val_count + dataset.test_count == 40
    assert dataset.train_count > dataset.val_count and dataset.test_count > 0
    folder = Path(dataset.path)
    assert folder == Path(settings.ARTIFACT_ROOT) / "datasets" / str(dataset.id)
    train = lines(folder / "train.jsonl")
    assert len(train) == dataset.train_count and len(lines(folder / "test.jsonl")) == dataset.test_count
    row = train[0]
    assert set(row) == {"messages", "tools"} and row["tools"] == TOOLS
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["messages"][-1] == {"role": "assistant", "content": None, "tool_calls": [tool_call]}
    assert DatasetExample.objects.filter(dataset=dataset).count() == 40


def test_a_trace_never_spans_two_splits(project: Project, qwen: CatalogModel) -> None:
    calls = traced(project, traces=40, per_trace=5)
    task = make_task(project, calls=calls)

    dataset = build(cluster=task, base_model=qwen, kind="lora", val_fraction=0.2, test_fraction=0.2)

    split_of_trace: dict[str, set[str]] = defaultdict(set)
    for call_id, split in dataset.examples.values_list("call__trace_id", "split"):
        split_of_trace[call_id].add(split)
    assert len(split_of_trace) == 40 and all(len(s) == 1 for s in split_of_trace.values())
    assert {next(iter(s)) for s in split_of_trace.values()} == {"train", "val", "test"}
    groups = set(dataset.examples.values_list("group_key", flat=True))
    assert len(groups) == 40


def test_calls_of_one_conversation_stay_together_without_a_trace(project: Project, qwen: CatalogModel) -> None:
    records = []
    for c in range(30):  # 30 conversations of 3 successive calls: same system prompt and first user message
        for turn in range(3):
            record = conversation(f"conv{c}-{turn}", 1, user=f"Conversation {c} opening")[0]
            record["request"]["messages"] += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "?"}]
            records.append(record)
    task = make_task(project, calls=stored(project, records))

    dataset = build(cluster=task, base_model=qwen, kind="lora", val_fraction=0.2, test_fraction=0.2)

    by_group: dict[str, set[str]] = defaultdict(set)
    for key, split in dataset.examples.values_list("group_key", "split"):
        by_group[key].add(split)
    assert len(by_group) == 30 and all(len(s) == 1 for s in by_group.values())


def test_the_split_is_fixed_by_the_seed(project: Project, qwen: CatalogModel) -> None:
    task = make_task(project, calls=traced(project, traces=60, per_trace=1))
    first = build(cluster=task, base_model=qwen, kind="lora", seed=7)
    TrainingDataset.objects.all().delete()  # no frozen test split: the seed alone decides
    again = build(cluster=task, base_model=qwen, kind="lora", seed=7)
    TrainingDataset.objects.all().delete()
    other = build(cluster=task, base_model=qwen, kind="lora", seed=8)
    assert splits(first) == splits(again) and first.test_hash == again.test_hash
    assert splits(first) != splits(other)


def test_the_test_hash_covers_the_test_calls_and_their_content(project: Project, qwen: CatalogModel) -> None:
    task = make_task(project, calls=traced(project, traces=50, per_trace=1))
    dataset = build(cluster=task, base_model=qwen, kind="lora")
    test_calls = Call.objects.filter(id__in=splits(dataset)["test"])
    digest = hashlib.sha256()
    for call_id, content in sorted(
        (
            str(c.id),
            hashlib.sha256(
                json.dumps(
                    {"request": c.request, "response": c.response},
                    sort_keys=True,
                    separators=(",", ":"),
                    ensure_ascii=False,
                ).encode()
            ).hexdigest(),
        )
        for c in test_calls
    ):
        digest.update(f"{call_id}\0{content}\n".encode())
    assert dataset.test_hash == digest.hexdigest() and len(dataset.test_hash) == 64


def test_a_later_dataset_reuses_the_frozen_test_split(project: Project, qwen: CatalogModel) -> None:
    task = make_task(project, calls=traced(project, traces=50, per_trace=2))
    first = build(cluster=task, base_model=qwen, kind="lora", seed=13)
    new_calls = traced(project, traces=50, per_trace=2, prefix="new")
    Call.objects.filter(id__in=[c.id for c in new_calls]).update(task_cluster=task)
    smol = CatalogModel.objects.get(hf_id="HuggingFaceTB/SmolLM2-360M-Instruct")

    later = build(cluster=task, base_model=smol, kind="lora", seed=99, test_fraction=0.3)

    assert splits(later)["test"] == splits(first)["test"] and later.test_hash == first.test_hash
    new_ids = {c.id for c in new_calls}
    assert new_ids <= splits(later)["train"] | splits(later)["val"]
    assert later.train_count + later.val_count + later.test_count == 200
    assert (Path(later.path) / "test.jsonl").read_bytes() == (Path(first.path) / "test.jsonl").read_bytes()


def test_new_calls_of_a_frozen_test_conversation_are_left_out(project: Project, qwen: CatalogModel) -> None:
    task = make_task(project, calls=traced(project, traces=30, per_trace=1))
    first = build(cluster=task, base_model=qwen, kind="lora")
    test_trace = Call.objects.filter(id__in=splits(first)["test"]).values_list("trace_id", flat=True)[0]
    follow_up = stored(project, conversation("follow", 2, trace_id=test_trace))
    Call.objects.filter(id__in=[c.id for c in follow_up]).update(task_cluster=task)

    later = build(cluster=task, base_model=qwen, kind="lora")

    assert not {c.id for c in follow_up} & {cid for ids in splits(later).values() for cid in ids}
    assert "2 new calls belong to conversations in the frozen test split and were left out of training." in (
        later.warnings
    )
    assert later.test_hash == first.test_hash


def test_few_examples_give_a_warning_but_build(project: Project, qwen: CatalogModel, settings: Any) -> None:
    task = make_task(project, calls=traced(project, traces=30, per_trace=1))
    dataset = build(cluster=task, base_model=qwen, kind="lora")
    warning = next(w for w in dataset.warnings if w.startswith("Only"))
    assert f"Only {dataset.train_count} training examples: at least 1,000 are recommended" in warning
    settings.DATASET_MIN_EXAMPLES = 5
    assert not any(w.startswith("Only") for w in build(cluster=task, base_model=qwen).warnings)


def test_calls_not_trainable_are_left_out_and_counted(project: Project, qwen: CatalogModel) -> None:
    calls = traced(project, traces=20, per_trace=1)
    Call.objects.filter(id__in=[c.id for c in calls[:3]]).update(trainable=False, exclusion_reason="pii")
    task = make_task(project, calls=calls)
    dataset = build(cluster=task, base_model=qwen, kind="lora")
    assert dataset.train_count + dataset.val_count + dataset.test_count == 17
    assert not {c.id for c in calls[:3]} & set(dataset.examples.values_list("call_id", flat=True))
    assert dataset.warnings[0].startswith("3 of the task's calls were left out")


def test_nothing_to_train_on_is_refused_before_any_job(project: Project, qwen: CatalogModel) -> None:
    calls = traced(project, traces=3, per_trace=1)
    Call.objects.filter(id__in=[c.id for c in calls]).update(trainable=False)
    with pytest.raises(DomainError, match="nothing to train on") as caught:
        services.dataset_create(cluster=make_task(project, calls=calls), base_model=qwen, kind="lora")
    assert caught.value.code == "no_data"
    with pytest.raises(DomainError, match="nothing to train on"):
        services.dataset_create(cluster=make_task(project), base_model=qwen, kind="lora")
    assert not TrainingDataset.objects.exists()


def test_a_classifier_dataset_is_text_and_label(project: Project) -> None:
    task = make_task(project, calls=traced(project, traces=30, per_trace=1))
    dataset = build(cluster=task, base_model=None, kind="classifier")
    assert dataset.kind == "classifier" and dataset.base_model is None
    row = lines(Path(dataset.path) / "train.jsonl")[0]
    assert set(row) == {"text", "label"} and row["label"] in ("positive", "negative")
    assert row["text"].startswith("t") and "question" in row["text"]


@pytest.mark.parametrize(
    ("fields", "kind", "with_model", "field"),
    [
        ({"output_kind": "json", "labels": []}, "classifier", False, "kind"),
        ({}, "classifier", True, "base_model"),
        ({}, "lora", False, "base_model"),
        ({}, "other", True, "kind"),
    ],
)
def test_a_wrong_kind_or_model_is_refused(
    project: Project, qwen: CatalogModel, fields: dict[str, Any], kind: str, with_model: bool, field: str
) -> None:
    task = make_task(project, calls=traced(project, traces=3, per_trace=1), **fields)
    with pytest.raises(DomainError) as caught:
        services.dataset_create(cluster=task, base_model=qwen if with_model else None, kind=kind)
    assert caught.value.field == field and caught.value.status == 422


@pytest.mark.parametrize(("val", "test", "field"), [(-0.1, 0.1, "val_fraction"), (0.3, 0.3, "test_fraction")])
def test_bad_fractions_are_refused(project: Project, qwen: CatalogModel, val: float, test: float, field: str) -> None:
    task = make_task(project, calls=traced(project, traces=3, per_trace=1))
    with pytest.raises(DomainError) as caught:
        services.dataset_create(cluster=task, base_model=qwen, val_fraction=val, test_fraction=test)
    assert caught.value.field == field


def test_export_gives_the_file_of_a_split(project: Project, qwen: CatalogModel) -> None:
    dataset = build(cluster=make_task(project, calls=traced(project, 20, 1)), base_model=qwen)
    assert dataset_file(dataset=dataset, split="val") == Path(dataset.path) / "val.jsonl"
    with pytest.raises(NotFound):
        dataset_file(dataset=dataset, split="everything")
    (Path(dataset.path) / "test.jsonl").unlink()
    with pytest.raises(NotFound, match="build the dataset again"):
        dataset_file(dataset=dataset, split="test")


def test_builds_from_a_discovered_task(project: Project, sample_records: list[dict[str, Any]]) -> None:
    discover(project, sample_records)
    triage = cluster_for(project, sample_records, "ticket_triage_json")
    qwen = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-1.5B-Instruct")

    dataset = build(cluster=triage, base_model=qwen, kind="lora")

    in_task = Call.objects.filter(task_cluster=triage, trainable=True).count()
    assert dataset.train_count + dataset.val_count + dataset.test_count == in_task > 20
    answer = lines(Path(dataset.path) / "train.jsonl")[0]["messages"][-1]
    assert answer["role"] == "assistant" and isinstance(json.loads(answer["content"]), dict)
