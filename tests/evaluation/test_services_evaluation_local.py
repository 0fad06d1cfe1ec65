"""Local candidates evaluated on this machine's CPU, through the same job a gpu-queue worker runs: a catalog
model zero-shot and few-shot, a LoRA specialist, a classifier. The model is the tiny random-weight Llama of
tests/tiny_llama.py (the code path; tests/specialists/test_smollm2.py runs the real SmolLM2-135M)."""

from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import execution, selectors, services
from apps.evaluation.models import Evaluation, EvaluationResult, TaskTestSplit
from apps.fleet.models import GpuWorker
from apps.jobs import registry
from apps.jobs import services as jobs
from apps.specialists import execution as training
from apps.specialists import services as specialists
from apps.specialists.models import CatalogModel, Split, TrainingRun
from apps.specialists.selectors import few_shot_calls
from tests.evaluation.conftest import run, task_calls
from tests.specialists.selection_helpers import build
from workers.jobs.prompts import chat_turns, template_support

pytestmark = pytest.mark.django_db
TINY_LORA = {"max_steps": 2, "batch_size": 2, "max_seq_len": 512, "lora_r": 4, "lora_alpha": 8, "eval_every": 2}


def results_of(evaluation: Evaluation) -> list[EvaluationResult]:
    return list(EvaluationResult.objects.filter(evaluation=evaluation).order_by("id"))


def test_a_catalog_model_zero_shot_answers_each_test_call_greedily_and_is_scored_and_priced(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker
) -> None:
    tiny_model.price_per_hour = Decimal("3.6")
    tiny_model.save(update_fields=["price_per_hour"])
    evaluation = services.evaluation_create(cluster=sentiment_task, base_model=tiny_model)
    assert (evaluation.shots, evaluation.candidate_kind, evaluation.message) == (
        0,
        "base_model",
        "Waiting for a worker on the gpu queue",
    )
    assert registry.kind_for(Evaluation).options(evaluation) == {"queue": "gpu"}
    evaluation = run(evaluation)

    assert evaluation.status == "succeeded", evaluation.error
    assert (evaluation.test_calls, evaluation.calls_done) == (4, 4)
    split = TaskTestSplit.objects.get(cluster=sentiment_task)
    results = results_of(evaluation)
    assert {str(r.call_id) for r in results} == set(split.call_ids)
    for r in results:
        assert r.output is not None and r.output["role"] == "assistant" and isinstance(r.output["content"], str)
        assert r.input_tokens and r.input_tokens > 20  # the system prompt and the review
        assert r.output_tokens is not None and 0 <= r.output_tokens <= 6  # EVALUATION_MAX_NEW_TOKENS
        assert 0 < r.details["compute_ms"] <= r.latency_ms  # its share of a batch of two
        assert r.reference == Call.objects.get(id=r.call_id).response
    assert evaluation.output_tokens == sum(r.output_tokens or 0 for r in results)
    assert evaluation.latency_p50_ms and evaluation.latency_p50_ms > 0
    local = evaluation.metrics["local"]
    assert (local["device"], local["dtype"], local["few_shot_calls"]) == ("cpu", "float32", [])
    # USD 3.60 an hour is 0.001 USD a second: per 1000 calls, the mean compute seconds.
    mean_ms = sum(Decimal(str(r.details["compute_ms"])) for r in results) / len(results)
    assert evaluation.cost_per_1k_calls == (mean_ms * Decimal("3.6") / 3600).quantize(Decimal("0.000001")) > 0
    assert "per hour of Tiny Llama's host (3.6000 USD)" in evaluation.metrics["cost_basis"]
    assert evaluation.message.startswith("Agreement ")

    again = run(services.evaluation_create(cluster=sentiment_task, base_model=tiny_model))
    assert [r.output for r in results_of(again)] == [r.output for r in results]  # greedy: the same answers


def test_without_a_serving_price_the_cost_is_unknown(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker
) -> None:
    evaluation = run(services.evaluation_create(cluster=sentiment_task, base_model=tiny_model))
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.cost_per_1k_calls is None
    assert evaluation.metrics["cost_basis"].startswith("no serving price per hour set on Tiny Llama")
    assert evaluation.llm_cost_per_1k_calls and evaluation.llm_cost_per_1k_calls > 0


def test_few_shot_puts_k_examples_of_the_task_before_the_call_and_never_a_test_call(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker
) -> None:
    evaluation = run(services.evaluation_create(cluster=sentiment_task, base_model=tiny_model, shots=3))
    assert evaluation.status == "succeeded", evaluation.error
    test_ids = set(TaskTestSplit.objects.get(cluster=sentiment_task).call_ids)
    shown = evaluation.metrics["local"]["few_shot_calls"]
    task_ids = {str(c.id) for c in task_calls(sentiment_task)}
    assert len(shown) == 3 and set(shown) <= task_ids and not set(shown) & test_ids

    # The prompt the job renders for a test call: the call's system message, three example exchanges, the call.
    calls = selectors.test_calls(ids=[UUID(uid) for uid in TaskTestSplit.objects.get(cluster=sentiment_task).call_ids])
    examples, ids = execution.few_shot_examples(evaluation, calls)
    assert ids == shown
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model.local_path)
    messages, tools = chat_turns(calls[0].request["messages"], support=template_support(tokenizer), examples=examples)
    assert tools is None
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt.count("<|system|>") == 1
    for call in Call.objects.filter(id__in=shown):
        user = call.request["messages"][-1]["content"]
        assert f"<|user|> {user} <|end|>\n<|assistant|> {call.response['content']} <|end|>" in prompt
    last_user = calls[0].request["messages"][-1]["content"]
    assert prompt.endswith(f"<|user|> {last_user} <|end|>\n<|assistant|> ")
    assert prompt.count(last_user) == 1
    for other in calls[1:]:
        assert other.request["messages"][-1]["content"] not in prompt


def test_few_shot_examples_come_from_the_train_split_when_the_task_has_a_dataset(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker
) -> None:
    dataset = build(sentiment_task, tiny_model)
    train = set(dataset.examples.filter(split=Split.TRAIN).values_list("call_id", flat=True))
    test = set(dataset.examples.filter(split=Split.TEST).values_list("call_id", flat=True))
    chosen = few_shot_calls(cluster=sentiment_task, exclude=test, k=16)
    assert len(chosen) == 16 and {c.id for c in chosen} <= train
    assert [c.id for c in few_shot_calls(cluster=sentiment_task, exclude=test, k=5)] == [c.id for c in chosen[:5]]


def test_a_lora_specialist_is_scored_on_the_test_split_of_its_dataset(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker
) -> None:
    dataset = build(sentiment_task, tiny_model)
    specialist = specialists.training_run_create(dataset=dataset, params=TINY_LORA, created_by=None)
    training.training_run_execute(run_id=specialist.id)
    specialist.refresh_from_db()
    assert specialist.status == "succeeded", specialist.error

    evaluation = services.evaluation_create(cluster=sentiment_task, training_run=specialist)
    assert evaluation.queue == "gpu" and evaluation.candidate_kind == "training_run"
    assert evaluation.candidate_name == f"specialist {str(specialist.id)[:8]} (LoRA on Tiny Llama)"
    evaluation = run(evaluation)
    assert evaluation.status == "succeeded", evaluation.error
    test = {str(i) for i in dataset.examples.filter(split=Split.TEST).values_list("call_id", flat=True)}
    split = set(TaskTestSplit.objects.get(cluster=sentiment_task).call_ids)
    assert split <= test and len(split) == min(len(test), 4)  # never a call the specialist trained on
    assert {str(r.call_id) for r in results_of(evaluation)} == split
    assert evaluation.test_calls == len(split) and "few_shot_calls" not in evaluation.metrics["local"]


def test_a_classifier_specialist_is_scored_on_the_cpu_queue(
    sentiment_task: TaskCluster, worker: GpuWorker, settings: Any
) -> None:
    dataset = build(sentiment_task, None, kind="classifier")
    specialist = specialists.training_run_create(dataset=dataset, params=None, created_by=None)
    training.training_run_execute(run_id=specialist.id)
    specialist.refresh_from_db()
    assert specialist.status == "succeeded", specialist.error

    evaluation = services.evaluation_create(cluster=sentiment_task, training_run=specialist)
    assert registry.kind_for(Evaluation).options(evaluation) == {"queue": "cpu"}
    evaluation = run(evaluation)
    assert evaluation.status == "succeeded", evaluation.error
    results = results_of(evaluation)
    assert results and all(r.output and r.output["content"] in ("positive", "negative") for r in results)
    assert evaluation.metrics["accuracy"] == evaluation.agreement
    # Each call is classified on its own, as served: its latency is its own time, not its batch's.
    assert all(r.latency_ms == r.details["compute_ms"] for r in results)
    assert evaluation.latency_p50_ms is not None and evaluation.latency_p50_ms < 1000
    # Priced as its CPU host's time: CLASSIFIER_HOST_PRICE_PER_HOUR x each call's compute time.
    compute_ms = [r.details["compute_ms"] for r in results]
    expected = sum(compute_ms) / len(compute_ms) * 0.089 / 3_600_000 * 1000
    assert float(evaluation.cost_per_1k_calls) == pytest.approx(expected, abs=2e-6)
    assert evaluation.cost_per_1k_calls > 0
    assert evaluation.metrics["cost_basis"].startswith("per hour of a CPU host (0.089 USD")
    settings.CLASSIFIER_HOST_PRICE_PER_HOUR = None  # unknown: no figure, and what to set
    assert execution._candidate_cost(evaluation, results) == (
        None,
        "no price set for a classifier's CPU host (CLASSIFIER_HOST_PRICE_PER_HOUR)",
    )


def test_cancelling_stops_the_evaluation_after_the_batch_in_flight(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker, settings: Any, monkeypatch: Any
) -> None:
    settings.EVALUATION_LOCAL_BATCH_SIZE = 1
    original = jobs.job_progress

    def progress(*, job: Any, **kwargs: Any) -> bool:
        if kwargs.get("calls_done") == 1:
            jobs.job_request_cancel(job=job)  # a person presses Cancel once the first call is scored
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", progress)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, base_model=tiny_model, shots=2))
    assert evaluation.status == "cancelled" and evaluation.finished_at is not None
    assert len(results_of(evaluation)) == 1 and evaluation.agreement is None


def test_a_specialist_whose_files_are_not_on_the_worker_fails_saying_so(
    sentiment_task: TaskCluster, tiny_model: CatalogModel, worker: GpuWorker
) -> None:
    dataset = build(sentiment_task, tiny_model)
    specialist = TrainingRun.objects.create(
        project=sentiment_task.project,
        cluster=sentiment_task,
        dataset=dataset,
        base_model=tiny_model,
        status="succeeded",
        artifact_path="/nowhere/adapter",
    )
    evaluation = run(services.evaluation_create(cluster=sentiment_task, training_run=specialist))
    assert evaluation.status == "failed"
    assert evaluation.error.startswith("The specialist's files are not on this worker (no /nowhere/adapter)")
