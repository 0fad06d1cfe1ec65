"""Fixtures for training: a tiny Llama with a word-level tokenizer built from the sample's texts, and
datasets (rows plus the train/val/test JSONL files the dataset builder would write)."""

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.discovery.models import TaskCluster
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import CatalogModel, SpecialistKind, TrainingDataset
from tests.specialists.workers_helpers import this_machine, tiny_llama_model
from tests.tiny_llama import chat_rows, save_llama

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def lora_rows(sample_records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The sample's 40 shortest function-calling calls (tools and tool calls, 220-360 tokens here):
    24 train, 8 val, 8 test, interleaved so the splits are alike."""
    calls = [r for r in sample_records if r["task"] == "function_calling"]
    rows = chat_rows(sorted(calls, key=lambda r: (len(json.dumps(r["request"])), r["id"]))[:40])
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "val": [], "test": []}
    for i, row in enumerate(rows):
        splits["val" if i % 5 == 3 else "test" if i % 5 == 4 else "train"].append(row)
    return splits


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, lora_rows: dict[str, list[dict[str, Any]]]) -> Path:
    rows = [row for split in lora_rows.values() for row in split]
    return save_llama(tmp_path_factory.mktemp("tiny-llama"), rows)


@pytest.fixture
def tiny_tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir), local_files_only=True)


@pytest.fixture(autouse=True)
def _artifact_root(settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_S3_BUCKET = ""


@pytest.fixture
def tiny_model(db: None, tiny_model_dir: Path) -> CatalogModel:
    return tiny_llama_model(f"tests/tiny-llama-{next(_numbers)}", tiny_model_dir)


@pytest.fixture
def trainer(tiny_model: CatalogModel) -> GpuWorker:
    """This machine as a registered worker on both queues, with its GPUs (none on a CPU machine: it trains
    LoRA on its CPU) and the weights it has (the tiny Llama's folder, the classifier's packaged encoder):
    what lets runs be created."""
    return this_machine()


def write_splits(folder: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        lines = [json.dumps(row) for row in rows.get(split, [])]
        (folder / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines))


@pytest.fixture
def make_dataset(project: Project, tmp_path: Path) -> Callable[..., TrainingDataset]:
    """A built dataset row for a fresh task, with its files written; `rows` maps split -> JSONL lines."""

    def make(
        rows: dict[str, list[dict[str, Any]]],
        *,
        kind: str = SpecialistKind.LORA,
        base_model: CatalogModel | None = None,
        target: Project | None = None,
    ) -> TrainingDataset:
        owner = target or project
        number = next(_numbers)
        cluster = TaskCluster.objects.create(project=owner, number=number, name=f"Task {number}")
        dataset = TrainingDataset.objects.create(
            project=owner,
            cluster=cluster,
            kind=kind,
            base_model=base_model,
            train_count=len(rows.get("train", [])),
            val_count=len(rows.get("val", [])),
            test_count=len(rows.get("test", [])),
            test_hash=f"{number:064x}",
            status=JobStatus.SUCCEEDED,
            progress=1.0,
        )
        folder = tmp_path / "datasets" / str(dataset.id)
        write_splits(folder, rows)
        dataset.path = str(folder)
        dataset.save(update_fields=["path"])
        return dataset

    return make


@pytest.fixture
def lora_dataset(
    make_dataset: Callable[..., TrainingDataset],
    tiny_model: CatalogModel,
    lora_rows: dict[str, list[dict[str, Any]]],
    trainer: GpuWorker,
) -> TrainingDataset:
    return make_dataset(lora_rows, base_model=tiny_model)


@pytest.fixture(scope="session")
def sentiment_rows(sample_records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The sample's sentiment_classification calls as classifier lines (text = the last user message,
    label = the response), split deterministically by position (i % 10 == 3: test, 7: val), which
    leaves the labels near 50/50 in every split."""
    rows: dict[str, list[dict[str, Any]]] = {"train": [], "val": [], "test": []}
    records = [r for r in sample_records if r["task"] == "sentiment_classification"]
    for i, record in enumerate(records):
        user = [m for m in record["request"]["messages"] if m["role"] == "user"][-1]
        line = {"text": user["content"], "label": record["response"]["content"]}
        rows["test" if i % 10 == 3 else "val" if i % 10 == 7 else "train"].append(line)
    return rows


@pytest.fixture
def classifier_dataset(
    make_dataset: Callable[..., TrainingDataset], sentiment_rows: dict[str, list[dict[str, Any]]], trainer: GpuWorker
) -> TrainingDataset:
    return make_dataset(sentiment_rows, kind=SpecialistKind.CLASSIFIER)


LORA_FAST = {
    "max_steps": 24,
    "batch_size": 4,
    "max_seq_len": 384,
    "learning_rate": 2e-2,
    "eval_every": 8,
    "log_every": 1,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "warmup_ratio": 0.0,
}
