"""Fixtures for evaluation: tasks made of the sample's real calls, a fake OpenAI-compatible endpoint on
127.0.0.1, a tiny local Llama and a registered worker that has it, and a way to run an evaluation's job
here, as a worker would."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import execution, services
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.fleet.models import GpuWorker
from apps.projects.models import Project
from apps.specialists.models import CatalogModel
from tests.evaluation.fake_openai import FakeOpenAI, Oracle, messages_key
from tests.specialists.selection_helpers import make_task, stored
from tests.specialists.workers_helpers import this_machine, tiny_llama_model
from tests.tiny_llama import chat_rows, save_llama

API_KEY = "sk-test-0123456789abcdefSECRET"
TASK_CALLS = 40


@pytest.fixture(autouse=True)
def _quick_retries(settings: Any) -> None:
    settings.EVALUATION_RETRY_BACKOFF_MS = 1
    settings.EVALUATION_REQUEST_TIMEOUT_S = 10


@pytest.fixture(autouse=True)
def _artifact_root(settings: Any, tmp_path: Path) -> None:
    """Datasets, specialists and converted models go under the test's own folder, never var/."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_S3_BUCKET = ""
    settings.MODEL_CACHE_DIR = tmp_path / "models"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def sample_task(project: Project, sample_records: list[dict[str, Any]], task: str, **fields: Any) -> TaskCluster:
    """TASK_CALLS of the sample's calls of one true task, stored through ingestion, as one task cluster."""
    records = [r for r in sample_records if r["task"] == task][:TASK_CALLS]
    return make_task(project, calls=stored(project, records), **fields)


@pytest.fixture
def sentiment_task(project: Project, sample_records: list[dict[str, Any]]) -> TaskCluster:
    return sample_task(project, sample_records, "sentiment_classification")


def task_calls(cluster: TaskCluster) -> list[Call]:
    return list(Call.objects.filter(task_cluster=cluster).order_by("id"))


def references(cluster: TaskCluster) -> dict[str, dict[str, Any]]:
    """The LLM's logged answer to each of the task's calls, by the call's messages."""
    return {messages_key(call.request["messages"]): call.response or {} for call in task_calls(cluster)}


def key_of(call: Call) -> str:
    return messages_key(call.request["messages"])


@pytest.fixture
def oracle(fake_openai: FakeOpenAI) -> Callable[..., Oracle]:
    """Make the fake endpoint answer a task's calls with the LLM's answers, except for `wrong` calls."""

    def make(cluster: TaskCluster, wrong: list[Call] | None = None, **options: Any) -> Oracle:
        fake_openai.respond = Oracle(references(cluster), wrong={key_of(c) for c in wrong or []}, **options)
        assert isinstance(fake_openai.respond, Oracle)
        return fake_openai.respond

    return make


@pytest.fixture
def endpoint(project: Project, fake_openai: FakeOpenAI) -> ModelEndpoint:
    return services.endpoint_create(
        project=project,
        name="qwen-small",
        base_url=fake_openai.base_url,
        model="qwen2.5-0.5b-instruct",
        api_key=API_KEY,
        price_input_per_mtok=0.1,
        price_output_per_mtok=0.2,
    )


def run(evaluation: Evaluation) -> Evaluation:
    """Run the evaluation's job here, as the cpu worker would, and read the row again."""
    execution.evaluation_run(evaluation_id=evaluation.id)
    evaluation.refresh_from_db()
    return evaluation


# --- local candidates: a tiny Llama that knows the sentiment task's words, and a worker that has it ----------


@pytest.fixture(scope="session")
def tiny_sentiment_dir(tmp_path_factory: pytest.TempPathFactory, sample_records: list[dict[str, Any]]) -> Path:
    """A tiny random-weight Llama (tests/tiny_llama.py) whose tokenizer was built on the sentiment calls."""
    records = [r for r in sample_records if r["task"] == "sentiment_classification"][:TASK_CALLS]
    return save_llama(tmp_path_factory.mktemp("tiny-sentiment"), chat_rows(records))


@pytest.fixture
def local_models(settings: Any) -> Iterator[None]:
    """Local candidates run here, small: one torch thread (restored afterwards: later tests' embeddings
    depend on it), 4 test calls, 6 new tokens each, batches of 2."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings.EVALUATION_TEST_CALLS = 4
    settings.EVALUATION_MAX_NEW_TOKENS = 6
    settings.EVALUATION_LOCAL_BATCH_SIZE = 2
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_model(db: None, tiny_sentiment_dir: Path, local_models: None) -> CatalogModel:
    return tiny_llama_model("tests/tiny-sentiment-llama", tiny_sentiment_dir)


@pytest.fixture
def worker(tiny_model: CatalogModel) -> GpuWorker:
    """This machine as a registered worker on both queues, with the weights it has: what lets local
    candidates be evaluated (no GPU here: it runs them on its CPU)."""
    return this_machine()
