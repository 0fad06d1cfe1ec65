import json
import time
from pathlib import Path
from typing import Any

import pytest

from apps.fleet.models import GpuWorker
from apps.fleet.services import worker_register
from apps.jobs import services as jobs
from apps.specialists import execution, services
from apps.specialists.models import CatalogModel, TrainingDataset, TrainingRun
from tests.specialists.conftest import LORA_FAST
from workers.jobs.training import IGNORE, Example, normalise_messages, pack, render_example


def run_now(dataset: TrainingDataset, **params: Any) -> TrainingRun:
    """Create the run, then run it here, as a worker that is not registered (no GPU checks) would."""
    run = services.training_run_create(dataset=dataset, params={**LORA_FAST, **params}, created_by=None)
    execution.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


# --- rendering and packing ---------------------------------------------------------------------------


def test_the_labels_cover_only_the_assistants_final_turn(tiny_tokenizer: Any, lora_rows: dict[str, Any]) -> None:
    row = lora_rows["train"][0]
    example = render_example(tiny_tokenizer, row["messages"], row["tools"])
    assert example is not None
    text = tiny_tokenizer.decode(example.input_ids)
    assert "<|tools|>" in text and row["tools"][0]["function"]["name"] in text  # the tools are rendered
    trained = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE]
    assert all(label in (IGNORE, t) for t, label in zip(example.input_ids, example.labels, strict=True))
    # Everything up to and including the assistant header is masked; the call and the end are trained.
    first = next(i for i, label in enumerate(example.labels) if label != IGNORE)
    assert tiny_tokenizer.convert_ids_to_tokens(example.input_ids[first - 1]) == "<|assistant|>"
    assert all(label == IGNORE for label in example.labels[:first])
    answer = normalise_messages([row["messages"][-1]])[0]
    expected = tiny_tokenizer(
        f" <|call|> {answer['tool_calls'][0]['function']['name']} "
        f"{json.dumps(answer['tool_calls'][0]['function']['arguments'])} <|end|>",
        add_special_tokens=False,
    )["input_ids"]
    assert trained == expected
    # Earlier assistant turns are context, not targets.
    earlier = [m for m in row["messages"][:-1] if m["role"] == "assistant"]
    assert earlier, "the fixture row should have an earlier assistant turn"


def test_a_conversation_that_does_not_end_with_the_assistant_is_skipped(tiny_tokenizer: Any) -> None:
    assert render_example(tiny_tokenizer, [{"role": "user", "content": "hello"}]) is None


def test_packing_yields_full_blocks_with_positions_restarting_per_example() -> None:
    examples = [Example(list(range(1, n + 1)), [IGNORE] * (n - 2) + [n - 1, n]) for n in (5, 7, 3, 9, 4)]
    blocks = pack(examples, block_size=8, pad_id=0)
    total = sum(len(e.input_ids) for e in examples)  # 28 tokens: three full blocks and a padded one
    assert [b.real for b in blocks] == [8, 8, 8, 4]
    assert all(len(b.input_ids) == len(b.labels) == len(b.position_ids) == 8 for b in blocks)
    assert sum(b.real for b in blocks) == total
    stream_ids = [t for b in blocks for t in b.input_ids[: b.real]]
    assert stream_ids == [t for e in examples for t in e.input_ids]
    assert [label for b in blocks for label in b.labels[: b.real]] == [label for e in examples for label in e.labels]
    assert blocks[0].position_ids == [0, 1, 2, 3, 4, 0, 1, 2]  # the second example starts at 0
    assert blocks[1].position_ids[:4] == [3, 4, 5, 6]  # and continues into the next block
    assert blocks[-1].labels[4:] == [IGNORE] * 4  # padding is never trained on


# --- a run, end to end -------------------------------------------------------------------------------


def test_a_lora_run_trains_records_its_curve_and_saves_an_adapter(lora_dataset: TrainingDataset) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    run = run_now(lora_dataset)
    seconds = time.monotonic() - started
    assert run.status == "succeeded", run.error
    assert (run.step, run.total_steps, run.method, run.queue) == (24, 24, "lora", "gpu")
    train = [h["train_loss"] for h in run.history]
    assert [h["step"] for h in run.history] == list(range(1, 25))
    val = [h["val_loss"] for h in run.history if h["val_loss"] is not None]
    print(f"\ntrain loss {train[0]:.3f} -> best {min(train):.3f}; validation {val}")
    assert min(train) < train[0] * 0.9, train  # the loss goes down
    assert val[-1] < val[0]
    assert len(val) == 3 and run.metrics["val_loss"] == min(val)
    assert run.tokens_per_s and run.tokens_per_s > 0
    assert run.gpu_memory_mb is None  # no CUDA here
    assert run.metrics["train_examples"] == 24 and run.metrics["fill"] > 0.9
    print(f"\nLoRA on CPU: {run.step / seconds:.1f} steps/s end to end, {run.tokens_per_s:,.0f} tokens/s training")

    adapter = Path(run.artifact_path)
    assert adapter == Path(execution.run_dir(run.id)) / "adapter"
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    meta = json.loads((adapter / "training.json").read_text())
    assert meta["test_hash"] == lora_dataset.test_hash and meta["params"]["max_steps"] == 24
    assert meta["base_model"] == lora_dataset.base_model.local_path  # type: ignore[union-attr]
    assert not (adapter.parent / "checkpoint").exists()  # checkpoints go once the adapter is saved

    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    base = AutoModelForCausalLM.from_pretrained(lora_dataset.base_model.local_path)  # type: ignore[union-attr]
    model = PeftModel.from_pretrained(base, str(adapter))
    row = json.loads((Path(lora_dataset.path) / "test.jsonl").read_text().splitlines()[0])
    prompt = tokenizer.apply_chat_template(
        normalise_messages(row["messages"][:-1]), tools=row["tools"], add_generation_prompt=True, return_tensors="pt"
    )
    out = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


def test_cancelling_mid_run_stops_it(lora_dataset: TrainingDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    original = jobs.job_progress

    def progress(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("step") == 3:
            jobs.job_request_cancel(job=job)
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", progress)
    run = run_now(lora_dataset, max_steps=40)
    assert run.status == "cancelled"
    assert run.step == 3 and run.finished_at is not None
    assert not (execution.run_dir(run.id) / "adapter").exists()


def gpu_box_with(*models: CatalogModel) -> GpuWorker:
    """Another registered worker, with a GPU and these models' weights: runs may be created for it."""
    weights = {m.hf_id: [True, "Weights in the Hugging Face cache."] for m in models}
    return worker_register(
        name="celery@gpu-box",
        host="gpu-box",
        queues=["gpu"],
        gpus=[{"index": 0, "name": "H200", "memory_total_mb": 143771, "memory_used_mb": 0, "utilization": 0}],
        concurrency=1,
        can_resize=False,
        weights=weights,
    )


def test_a_worker_without_the_weights_fails_the_run_with_a_message_a_person_can_act_on(
    make_dataset: Any, lora_rows: dict[str, Any]
) -> None:
    absent = CatalogModel.objects.create(
        hf_id="nobody/absent-model-0.5B", name="Absent", params_b=0.5, licence="mit", context_window=4096
    )
    gpu_box_with(absent)  # the run can be created: a GPU worker says it has the weights; this machine does not
    run = run_now(make_dataset(lora_rows, base_model=absent))
    assert run.status == "failed"
    assert "weights for nobody/absent-model-0.5B are not on this worker" in run.error


def test_qlora_on_a_worker_without_cuda_trains_lora_and_says_why(lora_dataset: TrainingDataset) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this worker has CUDA; test_qlora_on_a_gpu covers it")
    gpu_box_with(lora_dataset.base_model)  # type: ignore[arg-type]  # QLoRA needs a GPU worker to be created
    run = run_now(lora_dataset, method="qlora", max_steps=2, eval_every=2)  # then ran here, unregistered
    assert run.status == "succeeded", run.error
    assert run.params["method"] == "qlora" and run.method == "lora"
    assert "QLoRA needs a CUDA GPU" in run.message and run.metrics["notes"]


# --- on a GPU ----------------------------------------------------------------------------------------


def _need_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        reason = "no CUDA GPU on this machine (torch.cuda.is_available() is False)"
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)


@pytest.mark.gpu
def test_bf16_lora_on_a_gpu(lora_dataset: TrainingDataset) -> None:
    _need_cuda()
    run = run_now(lora_dataset)
    assert run.status == "succeeded", run.error
    meta = json.loads((Path(run.artifact_path) / "training.json").read_text())
    assert meta["device"] == "cuda" and meta["dtype"] == "bfloat16" and meta["gradient_checkpointing"]
    assert run.gpu_memory_mb and run.gpu_memory_mb > 0


@pytest.mark.gpu
def test_qlora_on_a_gpu(lora_dataset: TrainingDataset) -> None:
    _need_cuda()
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        print("\nSKIP: bitsandbytes is not installed")
        pytest.skip("bitsandbytes is not installed")
    run = run_now(lora_dataset, method="qlora")
    assert run.status == "succeeded", run.error
    assert run.method == "qlora" and (Path(run.artifact_path) / "adapter_model.safetensors").exists()
